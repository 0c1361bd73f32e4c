package platform

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// These tests use the Redis scripts/test.sh provides, each under a key prefix of its own.
func testRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	u := os.Getenv("DIALIN_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis at %s does not answer (scripts/test.sh starts one): %v", u, err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// fakeRoster is the presence core as the sink sees it: parties, live ones, removals, and
// the versions the core showed (set by showed, as the core records each event it
// publishes).
type fakeRoster struct {
	mu      sync.Mutex
	parties map[string][]mapper.Event
	live    []mapper.Event
	removed []string
	shown   map[string]int64
	slow    chan struct{} // when set, Remove waits for it to close (Twilio taking its time)
}

func (f *fakeRoster) Live(context.Context) ([]mapper.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live, nil
}

func (f *fakeRoster) Current(sid string, version int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return version >= f.shown[sid]
}

// showed records that the core showed version of call sid.
func (f *fakeRoster) showed(sid string, version int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shown == nil {
		f.shown = map[string]int64{}
	}
	f.shown[sid] = max(f.shown[sid], version)
}

func (f *fakeRoster) Parties(_ context.Context, topic string) ([]mapper.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.parties[topic], nil
}

func (f *fakeRoster) Remove(ctx context.Context, topic, sid string) error {
	if f.slow != nil {
		select {
		case <-f.slow:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ev := range f.parties[topic] {
		if ev.Sender.ID == sid {
			f.removed = append(f.removed, sid)
			return nil
		}
	}
	return ErrUnknownParty
}

func (f *fakeRoster) hungUp() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.removed...)
}

// startSink runs a sink under key until the test ends.
func startSink(t *testing.T, rdb redis.UniversalClient, key, removals string, ros *fakeRoster) *Sink {
	t.Helper()
	rooms, _ := NewRooms("room:{topicId}")
	s := New(Options{Redis: rdb, Key: key, Namespace: "/chat", Rooms: rooms, Removals: removals,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Check: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, ros); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(5 * time.Second)
	for s.Ready(context.Background()) != nil || !s.up.Load() {
		if time.Now().After(deadline) {
			t.Fatal("sink not ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

// listenAll collects every message on the key's pattern, decoded.
func listenAll(t *testing.T, rdb redis.UniversalClient, key string) <-chan Message {
	t.Helper()
	ps := rdb.PSubscribe(context.Background(), Pattern(key, "/chat"))
	if _, err := ps.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	out := make(chan Message, 4096)
	go func() {
		for m := range ps.Channel() {
			if msg, err := Decode([]byte(m.Payload)); err == nil && msg.UID != "node" {
				out <- msg
			}
		}
	}()
	return out
}

// broadcast publishes what a platform node would: a presence event to a room.
func broadcast(t *testing.T, rdb redis.UniversalClient, key, room string, ev map[string]any) {
	t.Helper()
	b, err := msgpack.Marshal([]any{"node", map[string]any{"type": 2, "data": []any{EventName, ev}, "nsp": "/chat"},
		map[string]any{"rooms": []string{room}, "except": []string{}, "flags": map[string]any{}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Publish(context.Background(), Channel(key, "/chat", room), b).Err(); err != nil {
		t.Fatal(err)
	}
}

func expectMessages(t *testing.T, ch <-chan Message, n int) []Message {
	t.Helper()
	var got []Message
	for len(got) < n {
		select {
		case m := <-ch:
			got = append(got, m)
		case <-time.After(3 * time.Second):
			t.Fatalf("got %d messages; want %d", len(got), n)
		}
	}
	select {
	case m := <-ch:
		t.Fatalf("unexpected message %+v", m)
	case <-time.After(300 * time.Millisecond):
	}
	return got
}

func TestPublishToRoom(t *testing.T) {
	rdb := testRedis(t)
	key := "t-" + uuid.NewString()
	heard := listenAll(t, rdb, key)
	s := startSink(t, rdb, key, RemovalsHangup, &fakeRoster{})
	s.Publish(mapper.Online(mapper.Party{CallSID: "CA1", TopicID: "T1", Version: 1}, "e1"))
	s.Publish(mapper.Leaves(mapper.Party{CallSID: "CA1", TopicID: "T1", Version: 2}, "e2"))
	got := expectMessages(t, heard, 2)
	if got[0].Event.Category != mapper.CategoryOnline || got[1].Event.Category != mapper.CategoryLeaves ||
		got[0].Rooms[0] != "room:T1" || got[0].UID != s.UID() {
		t.Fatalf("got %+v", got)
	}
}

// TestRequestsAnsweredOnce: two instances hear one request.parties; one answers it, in the
// room. A removal hangs up once; garbage and other categories change nothing.
func TestRequestsAnsweredOnce(t *testing.T) {
	rdb := testRedis(t)
	key := "t-" + uuid.NewString()
	heard := listenAll(t, rdb, key)
	ros := &fakeRoster{parties: map[string][]mapper.Event{"T1": {
		mapper.Online(mapper.Party{CallSID: "CA1", TopicID: "T1"}, "a"),
		mapper.Online(mapper.Party{CallSID: "CA2", TopicID: "T1"}, "b"),
	}}}
	startSink(t, rdb, key, RemovalsHangup, ros)
	startSink(t, rdb, key, RemovalsHangup, ros)

	broadcast(t, rdb, key, "room:T1", map[string]any{"_id": "r1", "category": mapper.CategoryRequestParties, "topicId": "T1", "content": map[string]any{}})
	for _, m := range expectMessages(t, heard, 2) {
		if m.Rooms[0] != "room:T1" || m.Event.Category != mapper.CategoryOnline {
			t.Errorf("answer %+v", m)
		}
	}

	rdb.Publish(context.Background(), Channel(key, "/chat", "room:T1"), "\x93\xdd\xff\xff\xff\xff")
	broadcast(t, rdb, key, "T1", map[string]any{"category": mapper.CategoryRequestParties}) // not a topic's room
	broadcast(t, rdb, key, "room:T1", map[string]any{"category": mapper.CategoryOnline, "topicId": "T1"})
	broadcast(t, rdb, key, "room:T1", map[string]any{"_id": "x", "category": mapper.CategoryRemoved, "topicId": "T1",
		"content": map[string]any{"attendee": map[string]any{"attendee": "CA9"}}}) // not a phone party
	broadcast(t, rdb, key, "room:T1", map[string]any{"_id": "y", "category": mapper.CategoryRemoved, "topicId": "T1",
		"content": map[string]any{"attendee": map[string]any{"attendee": "CA2"}}})
	expectMessages(t, heard, 0)
	if h := ros.hungUp(); len(h) != 1 || h[0] != "CA2" {
		t.Fatalf("hung up %v; want [CA2]", h)
	}
}

func TestRemovalsIgnored(t *testing.T) {
	rdb := testRedis(t)
	key := "t-" + uuid.NewString()
	ros := &fakeRoster{parties: map[string][]mapper.Event{"T1": {mapper.Online(mapper.Party{CallSID: "CA1", TopicID: "T1"}, "a")}}}
	startSink(t, rdb, key, RemovalsIgnore, ros)
	broadcast(t, rdb, key, "room:T1", map[string]any{"category": mapper.CategoryRemoved, "topicId": "T1",
		"content": map[string]any{"attendee": map[string]any{"attendee": "CA1"}}})
	time.Sleep(300 * time.Millisecond)
	if h := ros.hungUp(); len(h) != 0 {
		t.Fatalf("hung up %v with removals ignored", h)
	}
}

// TestAnswerNeverOvertakesNewerEvent: an answer read before a change, queued after the
// change's event, is dropped: the room's last word on the call is the newer event.
func TestAnswerNeverOvertakesNewerEvent(t *testing.T) {
	rdb := testRedis(t)
	key := "t-" + uuid.NewString()
	heard := listenAll(t, rdb, key)
	ros := &fakeRoster{}
	s := startSink(t, rdb, key, RemovalsHangup, ros)
	p := mapper.Party{CallSID: "CA1", TopicID: "T1", Version: 5}
	ros.showed("CA1", 5)
	s.Publish(mapper.Leaves(p, "leaves"))
	p.Version = 4
	s.enqueue(item{ev: mapper.Online(p, "stale answer"), kind: "answer"})
	got := expectMessages(t, heard, 1)
	if got[0].Event.Category != mapper.CategoryLeaves {
		t.Fatalf("got %+v; want the leaves alone", got[0].Event)
	}
}

// TestLeavesOf: the leaves published for a party a replay showed online keeps its identity
// and media state, disconnected.
func TestLeavesOf(t *testing.T) {
	p := mapper.Party{CallSID: "CA1", TopicID: "T1", DisplayName: "Ann", Role: "member", Muted: true, OnHold: true, Version: 3}
	want := mapper.Leaves(p, "x")
	got := leavesOf(mapper.Online(p, "y"))
	got.ID = "x"
	if got != want {
		t.Errorf("leavesOf = %+v\nwant %+v", got, want)
	}
}

package platform

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

func partiesRequest(id string) map[string]any {
	ev := map[string]any{"category": mapper.CategoryRequestParties, "topicId": "T1", "content": map[string]any{}, "sender": map[string]any{"_id": "ann"}}
	if id != "" {
		ev["_id"] = id
	}
	return ev
}

// startSlowSink is startSink with the production's Redis check (1 s), so that a ping slowed
// by the test's own load does not count as Redis being down.
func startSlowSink(t *testing.T, rdb redis.UniversalClient, key string, ros *fakeRoster) {
	t.Helper()
	rooms, _ := NewRooms("room:{topicId}")
	s := New(Options{Redis: rdb, Key: key, Namespace: "/chat", Rooms: rooms, Removals: RemovalsHangup,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Check: time.Second})
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
}

// request is the msgpack a platform node broadcasts for ev to room T1's channel.
func requestMsg(t *testing.T, ev map[string]any) []byte {
	t.Helper()
	b, err := msgpack.Marshal([]any{"node", map[string]any{"type": 2, "data": []any{EventName, ev}, "nsp": "/chat"},
		map[string]any{"rooms": []string{"room:T1"}, "except": []string{}, "flags": map[string]any{}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func oneParty() *fakeRoster {
	return &fakeRoster{parties: map[string][]mapper.Event{"T1": {mapper.Online(mapper.Party{CallSID: "CA1", TopicID: "T1"}, "a")}}}
}

// TestRepeatedRequestAnsweredAgain: a claim lasts 5 s. The same request heard twice (two
// instances, or the broadcast repeated) is answered once; the same client asking again later,
// with the very same message (no _id), is answered again once the claim has lapsed, and at
// once with a new _id.
func TestRepeatedRequestAnsweredAgain(t *testing.T) {
	rdb := testRedis(t)
	key := "t-" + uuid.NewString()
	heard := listenAll(t, rdb, key)
	ros := oneParty()
	startSink(t, rdb, key, RemovalsHangup, ros)
	startSink(t, rdb, key, RemovalsHangup, ros)

	same := requestMsg(t, partiesRequest("")) // as a client sends it: no _id
	send := func(b []byte) {
		if err := rdb.Publish(context.Background(), Channel(key, "/chat", "room:T1"), b).Err(); err != nil {
			t.Fatal(err)
		}
	}
	send(same)
	expectMessages(t, heard, 1)
	send(same) // the same message at once: the same claim
	expectMessages(t, heard, 0)
	time.Sleep(claimTTL)
	send(same) // asked again later
	expectMessages(t, heard, 1)
	first := uuid.NewString()
	broadcast(t, rdb, key, "room:T1", partiesRequest(first))
	expectMessages(t, heard, 1)
	broadcast(t, rdb, key, "room:T1", partiesRequest(first)) // the same _id: the same request
	expectMessages(t, heard, 0)
	broadcast(t, rdb, key, "room:T1", partiesRequest(uuid.NewString())) // a new request at once
	expectMessages(t, heard, 1)
}

// TestBurstAnswered: 1000 distinct request.parties within a second, heard by two instances,
// are all answered, each once.
func TestBurstAnswered(t *testing.T) {
	rdb := testRedis(t)
	key := "t-" + uuid.NewString()
	heard := listenAll(t, rdb, key)
	ros := oneParty()
	startSlowSink(t, rdb, key, ros)
	startSlowSink(t, rdb, key, ros)
	pipe := rdb.Pipeline()
	for i := range 1000 {
		pipe.Publish(context.Background(), Channel(key, "/chat", "room:T1"), requestMsg(t, partiesRequest(fmt.Sprintf("burst-%s-%d", key, i))))
	}
	start := time.Now()
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("publishing the burst took %v", d)
	}
	got := 0
	for got < 1000 {
		select {
		case <-heard:
			got++
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of 1000 requests answered", got)
		}
	}
	expectMessages(t, heard, 0)
}

// TestSlowRemovalDoesNotHoldAnswers: while hang-ups wait on a slow Twilio, request.parties
// is answered at once.
func TestSlowRemovalDoesNotHoldAnswers(t *testing.T) {
	rdb := testRedis(t)
	key := "t-" + uuid.NewString()
	heard := listenAll(t, rdb, key)
	ros := oneParty()
	ros.slow = make(chan struct{})
	defer close(ros.slow)
	startSink(t, rdb, key, RemovalsHangup, ros)
	for i := range 3 {
		broadcast(t, rdb, key, "room:T1", map[string]any{"_id": fmt.Sprintf("rm-%s-%d", key, i), "category": mapper.CategoryRemoved, "topicId": "T1",
			"content": map[string]any{"attendee": map[string]any{"attendee": "CA1"}}})
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	broadcast(t, rdb, key, "room:T1", partiesRequest(uuid.NewString()))
	select {
	case <-heard:
		if d := time.Since(start); d > time.Second {
			t.Errorf("answered after %v", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("request.parties not answered while removals wait on Twilio")
	}
}

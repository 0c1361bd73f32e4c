package presence_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/presence"
	"github.com/dialin-bridge/dialin-bridge/publisher"
	"github.com/dialin-bridge/dialin-bridge/rooms"
	"github.com/dialin-bridge/dialin-bridge/roster"
)

const topic = "5a1339868509b80641a56655"

func testRooms(t *testing.T) func() *rooms.Rooms {
	t.Helper()
	rs, err := rooms.Parse([]byte(`{"topics":[{"topicId":"` + topic + `","pin":"482913"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return func() *rooms.Rooms { return rs }
}

// recordingSink keeps what it is given; block, when set, is called first with each event.
type recordingSink struct {
	mu     sync.Mutex
	events []mapper.Event
	block  func(mapper.Event)
}

func (s *recordingSink) Publish(ev mapper.Event) {
	if s.block != nil {
		s.block(ev)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
}

func (s *recordingSink) byCall() map[string][]mapper.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]mapper.Event{}
	for _, ev := range s.events {
		out[ev.Sender.ID] = append(out[ev.Sender.ID], ev)
	}
	return out
}

func newCore(t *testing.T, sinks ...presence.Sink) *presence.Core {
	t.Helper()
	return presence.New(presence.Options{Roster: roster.New(roster.NewMemory()), Rooms: testRooms(t), Sinks: sinks})
}

func join(seq int64) roster.Participant {
	f := false
	return roster.Participant{ConferenceSID: "CF1", TopicID: topic, Seq: seq, Muted: &f, OnHold: &f}
}

func leave(seq int64) roster.Participant {
	return roster.Participant{ConferenceSID: "CF1", TopicID: topic, Seq: seq, Leave: true}
}

// TestPublishInOrderPerCall: callbacks of many calls race (join, mute, leave, each twice);
// every sink sees each call's events in the order of their versions, and either nothing (the
// leave came first) or events ending with one leaves.
func TestPublishInOrderPerCall(t *testing.T) {
	sink := &recordingSink{}
	core := newCore(t, sink)
	ctx := context.Background()
	const calls = 100
	var wg sync.WaitGroup
	for i := range calls {
		sid := fmt.Sprintf("CA%032d", i)
		if err := core.Admit(ctx, sid, topic, roster.Identity{DisplayName: "x"}); err != nil {
			t.Fatal(err)
		}
		mute := join(2)
		tr := true
		mute.Muted = &tr
		for _, p := range []roster.Participant{join(1), mute, leave(3), join(1), mute, leave(3)} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := core.Participant(ctx, sid, p); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	got := sink.byCall()
	if len(got) < calls/2 {
		t.Fatalf("only %d of %d calls published anything: the race was not run", len(got), calls)
	}
	for i := range calls {
		sid := fmt.Sprintf("CA%032d", i)
		evs := got[sid]
		if len(evs) == 0 {
			continue
		}
		if evs[len(evs)-1].Category != mapper.CategoryLeaves {
			t.Errorf("%s: %d events, the last not a leaves", sid, len(evs))
			continue
		}
		for j := 1; j < len(evs); j++ {
			if evs[j].Version <= evs[j-1].Version {
				t.Errorf("%s: version %d published after %d", sid, evs[j].Version, evs[j-1].Version)
			}
			if evs[j-1].Category == mapper.CategoryLeaves {
				t.Errorf("%s: an event after its leaves", sid)
			}
		}
	}
	if n := core.Online(); n != 0 {
		t.Errorf("Online() = %d after every call left; want 0", n)
	}
}

// TestSlowSinkHoldsOnlyItsCall: a sink stuck on one call's event holds up that call's next
// event and nothing else: other calls' callbacks, whichever lock stripe they would hash to,
// are applied and published meanwhile.
func TestSlowSinkHoldsOnlyItsCall(t *testing.T) {
	stuck, release := make(chan struct{}), make(chan struct{})
	slow := fmt.Sprintf("CA%032d", 999)
	sink := &recordingSink{block: func(ev mapper.Event) {
		if ev.Sender.ID == slow {
			close(stuck)
			<-release
		}
	}}
	core := newCore(t, sink)
	ctx := context.Background()
	core.Admit(ctx, slow, topic, roster.Identity{DisplayName: "slow"})
	go core.Participant(ctx, slow, join(1))
	<-stuck
	defer close(release)

	start := time.Now()
	for i := range 300 { // more calls than any striping of locks would have stripes
		sid := fmt.Sprintf("CA%032d", i)
		core.Admit(ctx, sid, topic, roster.Identity{DisplayName: "x"})
		if emitted, err := core.Participant(ctx, sid, join(1)); err != nil || !emitted {
			t.Fatalf("%s: join emitted %v, err %v", sid, emitted, err)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("300 joins took %v while one call's sink was stuck", took)
	}
	if n := len(sink.byCall()); n != 300 {
		t.Errorf("%d calls published while one was stuck; want 300", n)
	}
}

// hangingFanout is a fan-out whose PUBLISH hangs for delay (a Redis that stopped
// answering), as the publisher's sink sees it.
type hangingFanout struct {
	delay time.Duration
	mu    sync.Mutex
	sent  int
}

func (f *hangingFanout) Send(ctx context.Context, msg []byte) error {
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	f.mu.Lock()
	f.sent++
	f.mu.Unlock()
	return nil
}

func (f *hangingFanout) Run(ctx context.Context, deliver func([]byte), subscribed func()) {
	<-ctx.Done()
}
func (f *hangingFanout) Check(ctx context.Context) error { return nil }

// TestHangingFanoutDelaysNoWebhook: with the bridge's own room side as the sink and its
// fan-out's PUBLISH hanging 2 s each, the callbacks of 50 calls (joins, then leaves) are
// each applied and answered at once.
func TestHangingFanoutDelaysNoWebhook(t *testing.T) {
	fan := &hangingFanout{delay: 2 * time.Second}
	pub := publisher.New(publisher.Options{Fanout: fan}, slog.New(slog.DiscardHandler))
	core := newCore(t, pub)
	pub.Serve(core)
	defer pub.Close()
	ctx := context.Background()
	var slowest time.Duration
	for i := range 50 {
		sid := fmt.Sprintf("CA%032d", i)
		core.Admit(ctx, sid, topic, roster.Identity{DisplayName: "x"})
		for _, p := range []roster.Participant{join(1), leave(2)} {
			start := time.Now()
			if _, err := core.Participant(ctx, sid, p); err != nil {
				t.Fatal(err)
			}
			slowest = max(slowest, time.Since(start))
		}
	}
	if slowest > 200*time.Millisecond {
		t.Errorf("the slowest callback took %v with the fan-out hanging 2 s; want it unaffected", slowest)
	}
	t.Logf("slowest callback %v", slowest)
}

// gauge is an Observer that keeps the last count of parties online.
type gauge struct {
	mu sync.Mutex
	n  int
}

func (g *gauge) Emitted(string)                  {}
func (g *gauge) Reconciled(int, error)           {}
func (g *gauge) CaughtUp(int)                    {}
func (g *gauge) Corrected(string, time.Duration) {}
func (g *gauge) Online(n int)                    { g.mu.Lock(); g.n = n; g.mu.Unlock() }
func (g *gauge) get() int                        { g.mu.Lock(); defer g.mu.Unlock(); return g.n }

// TestOnlineFollowsChanges: the count of parties online follows joins, mutes and ends as
// the core applies them, and is counted afresh from the store at each reconciliation.
func TestOnlineFollowsChanges(t *testing.T) {
	ctx := context.Background()
	store := roster.NewMemory()
	g := &gauge{}
	core := presence.New(presence.Options{Roster: roster.New(store), Rooms: testRooms(t), Observer: g})
	for i := range 3 {
		sid := fmt.Sprintf("CA%032d", i)
		core.Admit(ctx, sid, topic, roster.Identity{DisplayName: "x"})
		core.Participant(ctx, sid, join(1))
	}
	mute := join(2)
	tr := true
	mute.Muted = &tr
	core.Participant(ctx, fmt.Sprintf("CA%032d", 0), mute)
	if n := g.get(); n != 3 {
		t.Errorf("online %d after three joins and a mute; want 3", n)
	}
	core.CallEnded(ctx, fmt.Sprintf("CA%032d", 1), 5, "completed")
	core.Participant(ctx, fmt.Sprintf("CA%032d", 2), leave(3))
	if n := g.get(); n != 1 {
		t.Errorf("online %d after two ends; want 1", n)
	}
	// Another instance sharing the store brings a call online: this one learns of it when
	// it reconciles.
	other := roster.New(store)
	other.Admit(ctx, "CAother", topic, roster.Identity{DisplayName: "y"})
	other.Participant(ctx, "CAother", join(1), nil)
	core.ReconcileOnce(ctx)
	if n := g.get(); n != 2 || core.Online() != 2 {
		t.Errorf("online %d (Online() %d) after reconciling; want 2", n, core.Online())
	}
}

// lateStore is a store whose Update of a call's join returns late, after its change is
// stored: the webhook that stored it is overtaken by the next change of the call.
type lateStore struct {
	roster.Store
	once sync.Once
	late chan struct{} // closed when the late join is stored
	wait chan struct{} // the late join returns when this closes
}

func (s *lateStore) Update(ctx context.Context, sid string, fn func(c *roster.Call, found bool) bool) error {
	joined := false
	err := s.Store.Update(ctx, sid, func(c *roster.Call, found bool) bool {
		was := c.State
		save := fn(c, found)
		joined = save && was == roster.Routing && c.State == roster.Online
		return save
	})
	if joined {
		s.once.Do(func() {
			close(s.late)
			<-s.wait
		})
	}
	return err
}

// TestOvertakenChangeNotPublished: a join stored first but handed on after the call's
// leave (its webhook was slow to get back from the store) is not published after the
// leaves: sinks never see a call online again after its leaves.
func TestOvertakenChangeNotPublished(t *testing.T) {
	store := &lateStore{Store: roster.NewMemory(), late: make(chan struct{}), wait: make(chan struct{})}
	sink := &recordingSink{}
	core := presence.New(presence.Options{Roster: roster.New(store), Rooms: testRooms(t), Sinks: []presence.Sink{sink}})
	ctx := context.Background()
	sid := fmt.Sprintf("CA%032d", 1)
	core.Admit(ctx, sid, topic, roster.Identity{DisplayName: "x"})
	joined := make(chan struct{})
	go func() {
		defer close(joined)
		core.Participant(ctx, sid, join(1))
	}()
	<-store.late
	if _, err := core.Participant(ctx, sid, leave(2)); err != nil {
		t.Fatal(err)
	}
	close(store.wait)
	<-joined
	evs := sink.byCall()[sid]
	if len(evs) != 1 || evs[0].Category != mapper.CategoryLeaves {
		var got []string
		for _, ev := range evs {
			got = append(got, fmt.Sprintf("%s v%d", ev.Category, ev.Version))
		}
		t.Errorf("published %v; want the leaves alone (the join it overtook is stale)", got)
	}
}

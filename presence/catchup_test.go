package presence_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/presence"
	"github.com/dialin-bridge/dialin-bridge/roster"
	"github.com/dialin-bridge/dialin-bridge/twilioapi"
)

// liveTwilio is a Twilio whose conferences hold the calls it is told.
type liveTwilio struct {
	mu   sync.Mutex
	live map[string]bool
}

func (f *liveTwilio) set(sid string, live bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.live == nil {
		f.live = map[string]bool{}
	}
	f.live[sid] = live
}

func (f *liveTwilio) Hangup(context.Context, string) error { return nil }
func (f *liveTwilio) CallStatus(context.Context, string) (string, error) {
	return "in-progress", nil
}
func (f *liveTwilio) UpdateParticipant(context.Context, string, string, *bool, *bool) error {
	return nil
}
func (f *liveTwilio) CreateParticipant(context.Context, string, twilioapi.DialOut) (string, error) {
	return "", errors.New("no dial-out here")
}
func (f *liveTwilio) Caller(context.Context, string) (string, string, error) {
	return "", "", nil
}
func (f *liveTwilio) Live(context.Context) ([]twilioapi.Participant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []twilioapi.Participant
	for sid, live := range f.live {
		if live {
			out = append(out, twilioapi.Participant{CallSID: sid, ConferenceSID: "CF1", Conference: topic})
		}
	}
	return out, nil
}

// localSink is what an instance's own clients are shown.
type localSink struct{ recordingSink }

func (l *localSink) ShowLocal(ev mapper.Event) { l.Publish(ev) }

// last returns the last event shown of call sid, and how many were shown.
func (l *localSink) last(sid string) (mapper.Event, int) {
	evs := l.byCall()[sid]
	if len(evs) == 0 {
		return mapper.Event{}, 0
	}
	return evs[len(evs)-1], len(evs)
}

// TestCatchUpRepairsDroppedFanout: two instances share a store; every event A publishes is
// lost on its way to B (a full fan-out queue, a failed PUBLISH). After one reconciliation,
// B's clients show the party as Twilio and the store have it: its join, then its mute,
// then its leaves, each shown once (issue 19, finding 2).
func TestCatchUpRepairsDroppedFanout(t *testing.T) {
	ctx := context.Background()
	store := roster.NewMemory()
	tw := &liveTwilio{}
	a := presence.New(presence.Options{Roster: roster.New(store), Rooms: testRooms(t), Twilio: tw, Shared: true}) // its fan-out drops all
	bClients := &localSink{}
	b := presence.New(presence.Options{Roster: roster.New(store), Rooms: testRooms(t), Twilio: tw,
		Sinks: []presence.Sink{bClients}, Local: bClients, Shared: true})
	sid := "CA00000000000000000000000000000001"

	a.Admit(ctx, sid, topic, roster.Identity{DisplayName: "Ann"})
	tw.set(sid, true)
	if _, err := a.Participant(ctx, sid, join(1)); err != nil {
		t.Fatal(err)
	}
	b.ReconcileOnce(ctx)
	if ev, n := bClients.last(sid); n != 1 || ev.Category != mapper.CategoryOnline || ev.Sender.DisplayName != "Ann" {
		t.Fatalf("after a lost join and one reconciliation B's clients got %d events, the last %+v; want Ann online", n, ev)
	}

	mute := join(2)
	tr := true
	mute.Muted = &tr
	a.Participant(ctx, sid, mute)
	b.ReconcileOnce(ctx)
	if ev, n := bClients.last(sid); n != 2 || ev.Category != mapper.CategoryOnline || !ev.Content.MediaSession.SelfMuted {
		t.Fatalf("after a lost mute and one reconciliation B's clients got %d events, the last %+v; want Ann muted", n, ev)
	}

	tw.set(sid, false)
	a.Participant(ctx, sid, leave(3))
	b.ReconcileOnce(ctx)
	if ev, n := bClients.last(sid); n != 3 || ev.Category != mapper.CategoryLeaves {
		t.Fatalf("after a lost leaves and one reconciliation B's clients got %d events, the last %+v; want a leaves", n, ev)
	}
	b.ReconcileOnce(ctx)
	if _, n := bClients.last(sid); n != 3 {
		t.Errorf("another reconciliation showed %d events in all; want nothing more", n)
	}
}

// TestCatchUpOnResubscribe: when the fan-out subscribes again (what was published while it
// re-subscribed is lost), the core catches its clients up from the store at once, without
// waiting for the next reconciliation (contract §8).
func TestCatchUpOnResubscribe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	store := roster.NewMemory()
	a := presence.New(presence.Options{Roster: roster.New(store), Rooms: testRooms(t), Shared: true})
	bClients := &localSink{}
	b := presence.New(presence.Options{Roster: roster.New(store), Rooms: testRooms(t),
		Sinks: []presence.Sink{bClients}, Local: bClients, Shared: true})
	done := make(chan struct{})
	go func() { defer close(done); b.Run(ctx, time.Hour) }()
	defer func() { cancel(); <-done }()
	for !b.Reconciled() {
		time.Sleep(5 * time.Millisecond)
	}

	sid := "CA00000000000000000000000000000002"
	a.Admit(ctx, sid, topic, roster.Identity{DisplayName: "Bob"})
	a.Participant(ctx, sid, join(1)) // lost while B's fan-out re-subscribed
	b.Resubscribed()
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ev, n := bClients.last(sid); n == 1 && ev.Category == mapper.CategoryOnline {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("B's clients were not caught up after the fan-out subscribed again")
		}
	}
}

// TestCatchUpShowsOnlyChanges: a change that owed no event (an admin's removal under way)
// moves the call's version on in the store; the catch-up shows nothing for it, as the
// party's state did not change.
func TestCatchUpShowsOnlyChanges(t *testing.T) {
	ctx := context.Background()
	store := roster.NewMemory()
	clients := &localSink{}
	b := presence.New(presence.Options{Roster: roster.New(store), Rooms: testRooms(t),
		Sinks: []presence.Sink{clients}, Local: clients, Shared: true})
	sid := "CA00000000000000000000000000000003"
	b.Admit(ctx, sid, topic, roster.Identity{DisplayName: "Cy"})
	if _, err := b.Participant(ctx, sid, join(1)); err != nil {
		t.Fatal(err)
	}
	if _, first, err := roster.New(store).Removing(ctx, sid, topic); err != nil || !first {
		t.Fatalf("Removing: first %v, err %v", first, err)
	}
	b.ReconcileOnce(ctx)
	if _, n := clients.last(sid); n != 1 {
		t.Errorf("the clients were shown %d events; want the join alone", n)
	}
}

// TestCatchUpLeavesOwnPublication: this instance stored a change and has not published it
// yet when its catch-up shows it to its own clients; the publication still reaches every
// sink (the fan-out, the platform), not only this instance's clients.
func TestCatchUpLeavesOwnPublication(t *testing.T) {
	ctx := context.Background()
	store := &lateStore{Store: roster.NewMemory(), late: make(chan struct{}), wait: make(chan struct{})}
	sinks := &recordingSink{}
	clients := &localSink{}
	core := presence.New(presence.Options{Roster: roster.New(store), Rooms: testRooms(t),
		Sinks: []presence.Sink{sinks}, Local: clients, Shared: true})
	sid := "CA00000000000000000000000000000004"
	core.Admit(ctx, sid, topic, roster.Identity{DisplayName: "Di"})
	joined := make(chan struct{})
	go func() {
		defer close(joined)
		core.Participant(ctx, sid, join(1))
	}()
	<-store.late
	core.ReconcileOnce(ctx)
	if ev, n := clients.last(sid); n != 1 || ev.Category != mapper.CategoryOnline {
		t.Fatalf("the catch-up showed %d events; want the join stored a moment ago", n)
	}
	close(store.wait)
	<-joined
	if evs := sinks.byCall()[sid]; len(evs) != 1 || evs[0].Category != mapper.CategoryOnline {
		t.Errorf("the sinks got %d events; want the join, published after the catch-up showed it", len(evs))
	}
}

// failingLive is a store whose Live fails while fail is above zero, as a store's connections
// do while they still point at a Redis master that has died.
type failingLive struct {
	roster.Store
	mu   sync.Mutex
	fail int
}

func (s *failingLive) Live(ctx context.Context) ([]roster.Call, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		return nil, errors.New("connection refused")
	}
	return s.Store.Live(ctx)
}

// runShared starts b's loop with a reconciliation interval too long to help, and waits until
// its first reconciliation ran.
func runShared(t *testing.T, b *presence.Core) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.Run(ctx, time.Hour) }()
	t.Cleanup(func() { cancel(); <-done })
	for !b.Reconciled() {
		time.Sleep(5 * time.Millisecond)
	}
}

func waitOnline(t *testing.T, clients *localSink, sid, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ev, n := clients.last(sid); n == 1 && ev.Category == mapper.CategoryOnline {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
	}
}

// TestCatchUpRetriedAfterFailure: a catch-up asked for by a new subscription, whose read of
// the store fails (a failover under way), is tried again until it succeeds, instead of
// waiting for the next reconciliation. It failed before: B's clients never saw the party.
func TestCatchUpRetriedAfterFailure(t *testing.T) {
	ctx := context.Background()
	mem := roster.NewMemory()
	store := &failingLive{Store: mem}
	a := presence.New(presence.Options{Roster: roster.New(mem), Rooms: testRooms(t), Shared: true})
	bClients := &localSink{}
	b := presence.New(presence.Options{Roster: roster.New(store), Rooms: testRooms(t),
		Sinks: []presence.Sink{bClients}, Local: bClients, Shared: true})
	runShared(t, b)

	sid := "CA00000000000000000000000000000009"
	a.Admit(ctx, sid, topic, roster.Identity{DisplayName: "Dee"})
	a.Participant(ctx, sid, join(1)) // lost while B's fan-out re-subscribed
	store.mu.Lock()
	store.fail = 2
	store.mu.Unlock()
	b.Resubscribed()
	waitOnline(t, bClients, sid, "B's clients were not caught up once the store answered again")
}

// TestCatchUpLooksAgain: a join stored just after the catch-up that a new subscription asked
// for, and published while the subscription was not yet live on the promoted master, is
// still shown: the store is looked at again a moment later. It failed before.
func TestCatchUpLooksAgain(t *testing.T) {
	ctx := context.Background()
	store := roster.NewMemory()
	a := presence.New(presence.Options{Roster: roster.New(store), Rooms: testRooms(t), Shared: true})
	bClients := &localSink{}
	b := presence.New(presence.Options{Roster: roster.New(store), Rooms: testRooms(t),
		Sinks: []presence.Sink{bClients}, Local: bClients, Shared: true})
	runShared(t, b)

	b.Resubscribed()
	time.Sleep(200 * time.Millisecond) // the first look has found nothing
	sid := "CA0000000000000000000000000000000a"
	a.Admit(ctx, sid, topic, roster.Identity{DisplayName: "Eve"})
	a.Participant(ctx, sid, join(1)) // its fan-out message lost
	waitOnline(t, bClients, sid, "B's clients never saw a join stored just after the catch-up")
}

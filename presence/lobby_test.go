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
)

type lobbySink struct {
	mu     sync.Mutex
	events []mapper.LobbyEvent
}

func (s *lobbySink) Lobby(ev mapper.LobbyEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
}

func (s *lobbySink) states() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ev := range s.events {
		out = append(out, ev.CallSID+":"+ev.State)
	}
	return out
}

// lobbyTwilio records the TwiML each call was moved to, and answers statuses.
type lobbyTwilio struct {
	mu       sync.Mutex
	moved    map[string]string
	statuses map[string]string
	fail     error
}

func (f *lobbyTwilio) Move(_ context.Context, sid, x string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.moved[sid] = x
	return nil
}

func (f *lobbyTwilio) CallStatus(_ context.Context, sid string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.statuses[sid], nil
}

func (f *lobbyTwilio) movedTo(sid string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.moved[sid]
}

func newLobbyCore(t *testing.T, timeout time.Duration) (*presence.Core, *roster.Memory, *lobbySink, *recordingSink, *lobbyTwilio) {
	store := roster.NewMemory()
	ls, rs := &lobbySink{}, &recordingSink{}
	tw := &lobbyTwilio{moved: map[string]string{}, statuses: map[string]string{}}
	core := presence.New(presence.Options{Roster: roster.New(store), Rooms: testRooms(t), Sinks: []presence.Sink{rs},
		Lobby: presence.LobbyOptions{
			Timeout:  timeout,
			Twilio:   tw,
			Admit:    func(_ context.Context, topicID string) (string, error) { return "admit:" + topicID, nil },
			Deny:     func() (string, error) { return "deny", nil },
			TimedOut: func() (string, error) { return "timeout", nil },
			Sinks:    []presence.LobbySink{ls},
		}})
	return core, store, ls, rs, tw
}

func TestLobbyAdmitDeny(t *testing.T) {
	core, store, ls, rs, tw := newLobbyCore(t, time.Minute)
	ctx := context.Background()
	id := roster.Identity{DisplayName: "Ann Lee"}
	for _, sid := range []string{"CA1", "CA2"} {
		if c, err := core.Wait(ctx, sid, topic, id); err != nil || c.State != roster.Waiting {
			t.Fatalf("Wait %s: %+v %v", sid, c, err)
		}
	}
	core.Wait(ctx, "CA1", topic, id) // its redirect: no second event
	list, err := core.Lobby(ctx, topic)
	if err != nil || len(list) != 2 || list[0].CallSID != "CA1" || list[0].DisplayName != "Ann Lee" {
		t.Fatalf("Lobby: %+v %v", list, err)
	}
	if _, err := time.Parse(time.RFC3339, list[0].Since); err != nil {
		t.Errorf("since %q: %v", list[0].Since, err)
	}
	if err := core.Decide(ctx, "other-topic", "CA1", true); !errors.Is(err, presence.ErrNotWaiting) {
		t.Errorf("admit into another topic: %v; want ErrNotWaiting", err)
	}
	if err := core.Decide(ctx, topic, "CA1", true); err != nil {
		t.Fatal(err)
	}
	if got := tw.movedTo("CA1"); got != "admit:"+topic {
		t.Errorf("CA1 moved to %q", got)
	}
	if err := core.Decide(ctx, topic, "CA1", false); !errors.Is(err, presence.ErrNotWaiting) {
		t.Errorf("second decision: %v; want ErrNotWaiting", err)
	}
	if err := core.Decide(ctx, topic, "CA2", false); err != nil {
		t.Fatal(err)
	}
	if got := tw.movedTo("CA2"); got != "deny" {
		t.Errorf("CA2 moved to %q", got)
	}
	c2, _, _ := store.Get(ctx, "CA2")
	if c2.State != roster.Ended {
		t.Errorf("denied call %+v; want ended", c2)
	}
	// The admitted call joins as any dial-in; the denied one's end owes nothing.
	core.Participant(ctx, "CA1", join(1))
	core.CallEnded(ctx, "CA2", 1, "completed")
	want := []string{"CA1:waiting", "CA2:waiting", "CA1:admitted", "CA2:denied"}
	if got := ls.states(); !equal(got, want) {
		t.Errorf("lobby events %v; want %v", got, want)
	}
	byCall := rs.byCall()
	if len(byCall["CA2"]) != 0 || len(byCall["CA1"]) != 1 || byCall["CA1"][0].Category != mapper.CategoryOnline {
		t.Errorf("presence %v; want CA1 online only", byCall)
	}
}

// TestLobbyTwilioRefuses: an admission Twilio refuses leaves the caller waiting.
func TestLobbyTwilioRefuses(t *testing.T) {
	core, store, ls, _, tw := newLobbyCore(t, time.Minute)
	ctx := context.Background()
	core.Wait(ctx, "CA1", topic, roster.Identity{DisplayName: "Ann"})
	tw.fail = errors.New("twilio: 21220 call is not in-progress")
	if err := core.Decide(ctx, topic, "CA1", true); err == nil {
		t.Fatal("Decide succeeded though Twilio refused")
	}
	if c, _, _ := store.Get(ctx, "CA1"); c.State != roster.Waiting {
		t.Errorf("after a refused admission: %+v; want waiting", c)
	}
	if got := ls.states(); !equal(got, []string{"CA1:waiting"}) {
		t.Errorf("lobby events %v", got)
	}
}

// TestLobbyHangUpAndTimeout: a waiting caller who hangs up leaves the lobby (by its status
// callback, or by reconciliation when the callback was lost); one who waits too long is told
// so through Twilio and leaves.
func TestLobbyHangUpAndTimeout(t *testing.T) {
	core, store, ls, rs, tw := newLobbyCore(t, 300*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	id := roster.Identity{DisplayName: "Ann"}
	core.Wait(ctx, "CA1", topic, id)
	core.Wait(ctx, "CA2", topic, id)
	core.Wait(ctx, "CA3", topic, id)
	core.CallEnded(ctx, "CA1", 1, "completed") // hung up, callback delivered
	tw.statuses["CA2"] = "completed"
	tw.statuses["CA3"] = "in-progress"
	done := make(chan struct{})
	go func() { defer close(done); core.RunLobby(ctx, time.Hour) }()
	deadline := time.Now().Add(5 * time.Second)
	for tw.movedTo("CA3") == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if got := tw.movedTo("CA3"); got != "timeout" {
		t.Fatalf("CA3 moved to %q; want the timeout", got)
	}
	for _, sid := range []string{"CA1", "CA2", "CA3"} {
		if c, _, _ := store.Get(context.Background(), sid); c.State != roster.Ended {
			t.Errorf("%s: %+v; want ended", sid, c)
		}
	}
	want := []string{"CA1:waiting", "CA2:waiting", "CA3:waiting", "CA1:left", "CA2:left", "CA3:left"}
	if got := ls.states(); !equal(got, want) {
		t.Errorf("lobby events %v; want %v", got, want)
	}
	if len(rs.byCall()) != 0 {
		t.Errorf("presence events for waiting callers: %v", rs.byCall())
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

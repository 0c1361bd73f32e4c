package presence_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/presence"
	"github.com/dialin-bridge/dialin-bridge/roster"
)

// hangupTwilio is a Twilio whose hang-ups are counted, and answered by answer (nil: at once).
type hangupTwilio struct {
	liveTwilio
	mu     sync.Mutex
	calls  int
	answer func(ctx context.Context, n int) error
}

func (f *hangupTwilio) Hangup(ctx context.Context, _ string) error {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	if f.answer == nil {
		return nil
	}
	return f.answer(ctx, n)
}

func (f *hangupTwilio) hangups() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

const removedSID = "CA00000000000000000000000000000001"

// onlineCore is a core whose topic has one phone party online, removedSID.
func onlineCore(t *testing.T, tw presence.Twilio) *presence.Core {
	t.Helper()
	core := presence.New(presence.Options{Roster: roster.New(roster.NewMemory()), Rooms: testRooms(t), Twilio: tw})
	ctx := context.Background()
	if err := core.Admit(ctx, removedSID, topic, roster.Identity{DisplayName: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Participant(ctx, removedSID, join(1)); err != nil {
		t.Fatal(err)
	}
	return core
}

// TestRemoveAgainAfterAccepted: a second removal of a call whose first removal Twilio accepted
// (its leave not come yet) is accepted too, with no second hang-up, which Twilio would refuse
// or repeat.
func TestRemoveAgainAfterAccepted(t *testing.T) {
	tw := &hangupTwilio{}
	core := onlineCore(t, tw)
	for i := range 2 {
		if err := core.Remove(context.Background(), topic, removedSID); err != nil {
			t.Fatalf("removal %d: %v", i+1, err)
		}
	}
	if n := tw.hangups(); n != 1 {
		t.Errorf("%d hang-ups sent to Twilio, want 1", n)
	}
}

// TestRemoveAgainAfterRefused: when Twilio refused the first hang-up, the call goes on, and a
// second removal asks Twilio again.
func TestRemoveAgainAfterRefused(t *testing.T) {
	tw := &hangupTwilio{answer: func(_ context.Context, n int) error {
		if n == 1 {
			return errors.New("twilio: 500")
		}
		return nil
	}}
	core := onlineCore(t, tw)
	if err := core.Remove(context.Background(), topic, removedSID); !errors.Is(err, presence.ErrTwilio) {
		t.Fatalf("first removal: %v, want ErrTwilio", err)
	}
	if err := core.Remove(context.Background(), topic, removedSID); err != nil {
		t.Fatalf("second removal: %v", err)
	}
	if n := tw.hangups(); n != 2 {
		t.Errorf("%d hang-ups sent to Twilio, want 2", n)
	}
}

// TestMergedRemovalOutlivesFirstAsker: two removals of one call at once make one hang-up; the
// first asker going away (its connection closed) does not fail the second's.
func TestMergedRemovalOutlivesFirstAsker(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	tw := &hangupTwilio{answer: func(ctx context.Context, _ int) error {
		close(started)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	core := onlineCore(t, tw)

	firstCtx, leaveFirst := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- core.Remove(firstCtx, topic, removedSID) }()
	<-started
	second := make(chan error, 1)
	go func() { second <- core.Remove(context.Background(), topic, removedSID) }()
	time.Sleep(50 * time.Millisecond) // the second asker joins the hang-up under way
	leaveFirst()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("first asker: %v, want its own context's end", err)
	}
	close(release)
	select {
	case err := <-second:
		if err != nil {
			t.Errorf("second asker: %v, want the hang-up's success", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second asker still waiting 5 s after Twilio answered")
	}
	if n := tw.hangups(); n != 1 {
		t.Errorf("%d hang-ups sent to Twilio, want 1", n)
	}
}

// TestRemovalEndsWithItsAskers: when every asker has gone (a shutdown ends them), the hang-up
// waiting on a silent Twilio ends too, rather than at its own bound.
func TestRemovalEndsWithItsAskers(t *testing.T) {
	ended := make(chan struct{})
	tw := &hangupTwilio{answer: func(ctx context.Context, _ int) error {
		<-ctx.Done()
		close(ended)
		return ctx.Err()
	}}
	core := onlineCore(t, tw)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- core.Remove(ctx, topic, removedSID) }()
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	for range 2 {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Errorf("asker: %v, want its context's end", err)
		}
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the hang-up still waits on Twilio 5 s after its askers left")
	}
}

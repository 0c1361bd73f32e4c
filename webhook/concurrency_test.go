package webhook_test

import (
	"math/rand"
	"net/http"
	"sync"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/webhook"
)

// TestConcurrentCallbacks delivers the callbacks of many calls at once, shuffled and
// duplicated, and checks each call's events: online only before leaves, at most one leaves,
// and a leaves for every call that was shown online.
func TestConcurrentCallbacks(t *testing.T) {
	b := newBridge(t)
	const calls = 20
	var steps []step
	for i := range calls {
		sid := callSID(100 + i)
		b.post(webhook.PathVoice, voiceForm(sid, unknownCaller, numA), http.StatusOK)
		steps = append(steps,
			confStep("participant-join", 1, sid),
			confStep("participant-mute", 2, sid),
			confStep("participant-unmute", 3, sid),
			confStep("participant-leave", 4, sid),
			statusStep(sid, "completed", 2),
		)
	}
	steps = append(steps, steps...) // Twilio retries
	rand.New(rand.NewSource(1)).Shuffle(len(steps), func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })

	var wg sync.WaitGroup
	errs := make(chan string, len(steps))
	sem := make(chan struct{}, 8)
	for _, s := range steps {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if r := b.do(request{path: s.path, form: s.form}); r.status != s.want {
				errs <- r.body
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("callback refused: %s", e)
	}

	online, leaves := map[string]int{}, map[string]int{}
	for _, e := range b.pub.all() {
		switch e.Category {
		case mapper.CategoryOnline:
			if leaves[e.Sender.ID] > 0 {
				t.Errorf("%s: online after leaves", e.Sender.ID)
			}
			online[e.Sender.ID]++
		case mapper.CategoryLeaves:
			leaves[e.Sender.ID]++
		}
	}
	// Which calls go online depends on the order the callbacks won the race in (a call whose
	// end comes first never does), but with this shuffle several do: a run in which none was
	// shown did not publish what it applied.
	if len(online) == 0 {
		t.Fatalf("no call was shown online (events published: %s)", categories(b.pub.all()))
	}
	t.Logf("%d of %d calls shown online", len(online), calls)
	for i := range calls {
		sid := callSID(100 + i)
		want := 0
		if online[sid] > 0 {
			want = 1
		}
		if leaves[sid] != want {
			t.Errorf("%s: %d online, %d leaves; want %d leaves", sid, online[sid], leaves[sid], want)
		}
	}
	if n := len(b.live()); n != 0 {
		t.Errorf("%d calls still live", n)
	}
	checkIDs(t, b.pub.all())
}

// TestAuthenticateBeforeParsing checks that an unsigned request is refused for its signature
// even when it is also malformed.
func TestAuthenticateBeforeParsing(t *testing.T) {
	tests := []struct {
		name string
		path string
		body string
	}{
		{"voice without CallSid", webhook.PathVoice, "From=%2B14155550123"},
		{"conference with unknown event", webhook.PathConference, "StatusCallbackEvent=nope"},
		{"status with bad SequenceNumber", webhook.PathStatus, "CallSid=" + callSID(1) + "&CallStatus=completed&SequenceNumber=abc"},
		{"pin with bad attempt", webhook.PathPIN + "?attempt=9", "CallSid=" + callSID(1)},
		{"not a form", webhook.PathVoice, "%zz"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBridge(t)
			r := b.do(request{path: tc.path, body: tc.body, unsigned: true})
			if r.status != http.StatusForbidden {
				t.Fatalf("status %d (%q); want 403", r.status, r.body)
			}
		})
	}
}

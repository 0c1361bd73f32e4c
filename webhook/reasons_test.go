package webhook_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/webhook"
)

// TestLeaveReasons: the leaves of a party says why it left, from Twilio's
// ReasonParticipantLeft and ParticipantCallStatus, the call's status, or the conference's end.
func TestLeaveReasons(t *testing.T) {
	tests := []struct {
		name string
		step step
		want string
	}{
		{"hung up", confStep("participant-leave", 2, callA), mapper.ReasonHungUp},
		{"conference ended via API", confStep("participant-leave", 2, callA, "ReasonParticipantLeft", "conference_ended_via_api"), mapper.ReasonConferenceEnded},
		{"moderator ended the conference", confStep("participant-leave", 2, callA, "ReasonParticipantLeft", "moderator_ended_conference"), mapper.ReasonConferenceEnded},
		{"updated via API", confStep("participant-leave", 2, callA, "ReasonParticipantLeft", "participant_updated_via_api"), mapper.ReasonHungUp},
		{"a connected call's busy status is a hang-up", confStep("participant-leave", 2, callA, "ParticipantCallStatus", "busy"), mapper.ReasonHungUp},
		{"status completed", statusStep(callA, "completed", 2), mapper.ReasonHungUp},
		{"conference-end", confStep("conference-end", 2, ""), mapper.ReasonConferenceEnded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBridge(t)
			for _, s := range online {
				b.do(request{path: s.path, form: s.form})
			}
			if r := b.do(request{path: tc.step.path, form: tc.step.form}); r.status != http.StatusNoContent {
				t.Fatalf("status %d %s", r.status, r.body)
			}
			evs := b.pub.all()
			last := evs[len(evs)-1]
			if last.Category != mapper.CategoryLeaves || last.Content.Reason != tc.want {
				t.Errorf("%s reason %q; want leaves %q", last.Category, last.Content.Reason, tc.want)
			}
		})
	}
}

// TestSpeechAndDialOutStatus: with Speaking, speech callbacks change who is speaking and
// owe an online; a dial-out's initiated status (Direction outbound-api) is applied, an
// incoming call's is not.
func TestSpeechAndDialOutStatus(t *testing.T) {
	b := newBridge(t, withOptions(func(o *webhook.Options) { o.Speaking = true }))
	for _, s := range online {
		b.do(request{path: s.path, form: s.form})
	}
	before := len(b.pub.all())
	for i, ev := range []string{"participant-speech-start", "participant-speech-stop"} {
		s := confStep(ev, 2+i, callA)
		if r := b.do(request{path: s.path, form: s.form}); r.status != http.StatusNoContent {
			t.Fatalf("%s: %d %s", ev, r.status, r.body)
		}
	}
	if n := len(b.pub.all()) - before; n != 2 {
		t.Errorf("%d events for two speech changes; want 2", n)
	}
	// The TwiML of a routed call asks for the speaker event.
	s := incomingStep(callB, numA)
	if r := b.do(request{path: s.path, form: s.form}); !strings.Contains(r.body, `statusCallbackEvent="start end join leave mute hold speaker"`) {
		t.Errorf("join TwiML %s", r.body)
	}
	// A dial-out's progress is applied (204, stored as dialing); an incoming call's ignored.
	out := callSID(77)
	for _, tc := range []struct {
		sid, dir string
		live     bool
	}{{out, "outbound-api", true}, {callSID(78), "inbound", false}} {
		f := statusForm(tc.sid, "initiated", 0, "Direction", tc.dir)
		if r := b.do(request{path: webhook.PathStatus, form: f}); r.status != http.StatusNoContent {
			t.Fatalf("initiated %s: %d", tc.dir, r.status)
		}
		found := false
		for _, c := range b.live() {
			found = found || c.CallSID == tc.sid
		}
		if found != tc.live {
			t.Errorf("%s call stored after initiated: %v; want %v", tc.dir, found, tc.live)
		}
	}
}

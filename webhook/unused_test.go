package webhook_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/webhook"
)

// TestUnusedCallbacks: a well-formed callback the bridge has no use for, including an event
// or status name Twilio adds later, gets 204 (Twilio logs any 4xx as a failed callback) and
// changes nothing: no event, the call as it was, and its sequence untouched, so that the
// next real callback still applies.
func TestUnusedCallbacks(t *testing.T) {
	sid, conf := callSID(40), confSID(40)
	tests := []struct {
		name string
		path string
		form url.Values
	}{
		{"conference-record-stop", webhook.PathConference, confForm("conference-record-stop", conf, topicA, 50, "",
			"RecordingUrl", "https://api.twilio.com/2010-04-01/Accounts/"+accountSID+"/Recordings/RE0123456789abcdef0123456789abcdef",
			"RecordingSid", "RE0123456789abcdef0123456789abcdef", "RecordingDuration", "17")},
		{"conference-record-start", webhook.PathConference, confForm("conference-record-start", conf, topicA, 50, "")},
		{"conference-start", webhook.PathConference, confForm("conference-start", conf, topicA, 50, "")},
		{"participant-speech-start, state unlike the call's", webhook.PathConference,
			confForm("participant-speech-start", conf, topicA, 50, sid, "Muted", "false", "Hold", "true")},
		{"participant-speech-stop", webhook.PathConference, confForm("participant-speech-stop", conf, topicA, 50, sid, "Muted", "false")},
		{"participant-modify", webhook.PathConference, confForm("participant-modify", conf, topicA, 50, sid, "Coaching", "true", "Muted", "false")},
		{"announcement-fail", webhook.PathConference, confForm("announcement-fail", conf, topicA, 50, "")},
		{"a participant event Twilio adds later", webhook.PathConference,
			confForm("participant-transcription-start", conf, topicA, 50, sid, "Muted", "false", "Hold", "true")},
		{"a conference event Twilio adds later", webhook.PathConference, confForm("conference-region-change", conf, topicA, 50, "")},
		{"participant event without the participant's state", webhook.PathConference,
			confForm("participant-speech-start", conf, topicA, 50, sid, "Muted", "", "Hold", "")},
		{"status initiated", webhook.PathStatus, statusForm(sid, "initiated", 50)},
		{"status ringing", webhook.PathStatus, statusForm(sid, "ringing", 50)},
		{"status answered", webhook.PathStatus, statusForm(sid, "answered", 50)},
		{"status in-progress", webhook.PathStatus, statusForm(sid, "in-progress", 50)},
		{"a call status Twilio adds later", webhook.PathStatus, statusForm(sid, "transferred", 50)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBridge(t)
			before := b.onlineMuted(sid, conf) // that the callback must leave alone
			events := b.pub.len()

			r := b.do(request{path: tc.path, form: tc.form})
			if r.status != http.StatusNoContent {
				t.Fatalf("status %d (%q); want 204", r.status, r.body)
			}
			if r.body != "" {
				t.Errorf("body %q; want none", r.body)
			}
			if after, _ := b.call(sid); after != before {
				t.Errorf("call changed:\nbefore %+v\nafter  %+v", before, after)
			}
			if n := b.pub.len(); n != events {
				t.Fatalf("published %s", categories(b.pub.all()[events:]))
			}
			// The next real callbacks, older than the unused one, still apply.
			b.post(webhook.PathConference, confForm("participant-unmute", conf, topicA, 2, sid), http.StatusNoContent)
			b.post(webhook.PathStatus, statusForm(sid, "completed", 3), http.StatusNoContent)
			evs := b.pub.all()[events:]
			if len(evs) != 2 {
				t.Fatalf("after the unused callback, unmute and completed published %s; want online and leaves", categories(evs))
			}
			checkEvent(t, evs[0], onlineEv(sid, true, false), topicA)
			checkEvent(t, evs[1], leavesEv(sid), topicA)
		})
	}
}

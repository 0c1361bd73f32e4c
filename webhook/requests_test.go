package webhook_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/webhook"
)

var allPaths = []string{webhook.PathVoice, webhook.PathPIN, webhook.PathConference, webhook.PathStatus}

func TestBodyLimit(t *testing.T) {
	sid := callSID(2)
	// padded returns a signed incoming-call form whose encoded body is exactly n bytes.
	padded := func(n int) url.Values {
		f := voiceForm(sid, unknownCaller, numA)
		f.Set("Pad", "")
		f.Set("Pad", strings.Repeat("x", n-len(f.Encode())))
		if len(f.Encode()) != n {
			t.Fatalf("padded body is %d bytes; want %d", len(f.Encode()), n)
		}
		return f
	}
	tests := []struct {
		name string
		path string
		form url.Values
		sign bool
		want int
	}{
		{"exactly 64 KiB, signed", webhook.PathVoice, padded(webhook.MaxBody), true, http.StatusOK},
		{"one byte over, signed", webhook.PathVoice, padded(webhook.MaxBody + 1), true, http.StatusRequestEntityTooLarge},
		{"one byte over, unsigned", webhook.PathVoice, padded(webhook.MaxBody + 1), false, http.StatusRequestEntityTooLarge},
		{"1 MiB, signed", webhook.PathVoice, padded(1 << 20), true, http.StatusRequestEntityTooLarge},
		{"1 MiB, unsigned, conference", webhook.PathConference, padded(1 << 20), false, http.StatusRequestEntityTooLarge},
		{"1 MiB, unsigned, status", webhook.PathStatus, padded(1 << 20), false, http.StatusRequestEntityTooLarge},
		{"1 MiB, unsigned, pin", webhook.PathPIN, padded(1 << 20), false, http.StatusRequestEntityTooLarge},
	}
	if webhook.MaxBody != 64<<10 {
		t.Fatalf("MaxBody = %d; want 64 KiB", webhook.MaxBody)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBridge(t)
			r := b.do(request{path: tc.path, form: tc.form, unsigned: !tc.sign})
			if r.status != tc.want {
				t.Fatalf("status %d (%q); want %d", r.status, r.body, tc.want)
			}
			_, stored := b.call(sid)
			if stored != (tc.want == http.StatusOK) {
				t.Errorf("call stored = %v with status %d", stored, r.status)
			}
			if b.pub.len() != 0 {
				t.Errorf("events published")
			}
		})
	}
}

func TestMethod(t *testing.T) {
	for _, path := range allPaths {
		for _, method := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
			t.Run(method+" "+path, func(t *testing.T) {
				b := newBridge(t)
				q := voiceForm(callSID(3), unknownCaller, numA).Encode()
				r := b.do(request{method: method, path: path + "?" + q})
				if r.status != http.StatusMethodNotAllowed {
					t.Fatalf("status %d (%q); want 405", r.status, r.body)
				}
				if allow := r.header.Get("Allow"); allow != "GET, POST" {
					t.Errorf("Allow %q; want GET, POST", allow)
				}
				if len(b.live()) != 0 || b.pub.len() != 0 {
					t.Error("a refused request changed the roster or published")
				}
			})
		}
	}
}

func TestBadRequest(t *testing.T) {
	sid, conf := callSID(4), confSID(4)
	other := callSID(5)
	hex32 := strings.Repeat("ab", 16)
	tests := []struct {
		name string
		path string
		form url.Values
		body string // raw body sent instead of the encoded form; form is what is signed
		// reason is a substring the one-line reason must contain.
		reason string
	}{
		{"voice: missing CallSid", webhook.PathVoice, voiceForm(other, unknownCaller, numA, "CallSid", ""), "", "CallSid"},
		{"voice: CallSid too short", webhook.PathVoice, voiceForm("CA123", unknownCaller, numA), "", "CallSid"},
		{"voice: CallSid wrong prefix", webhook.PathVoice, voiceForm("CF"+hex32, unknownCaller, numA), "", "CallSid"},
		{"voice: CallSid not hex", webhook.PathVoice, voiceForm("CA"+strings.Repeat("g", 32), unknownCaller, numA), "", "CallSid"},
		{"voice: CallSid too long", webhook.PathVoice, voiceForm(other+"0", unknownCaller, numA), "", "CallSid"},
		{"voice: body not a form", webhook.PathVoice, url.Values{"CallSid": {other}}, "CallSid=" + other + "&From=%zz", "form"},
		{"pin: missing CallSid", webhook.PathPIN, set(pinForm(other, unknownCaller, "+15005550009", pinA), "CallSid", ""), "", "CallSid"},
		{"pin: attempt 0", webhook.PathPIN + "?attempt=0", pinForm(other, unknownCaller, "+15005550009", pinA), "", "attempt"},
		{"pin: attempt 4", webhook.PathPIN + "?attempt=4", pinForm(other, unknownCaller, "+15005550009", pinA), "", "attempt"},
		{"pin: attempt not a number", webhook.PathPIN + "?attempt=x", pinForm(other, unknownCaller, "+15005550009", pinA), "", "attempt"},
		{"conference: missing StatusCallbackEvent", webhook.PathConference, confForm("participant-mute", conf, topicA, 3, sid, "StatusCallbackEvent", ""), "", "StatusCallbackEvent"},
		{"conference: StatusCallbackEvent in capitals", webhook.PathConference, confForm("Participant-Join", conf, topicA, 3, sid), "", "StatusCallbackEvent"},
		{"conference: StatusCallbackEvent with a space", webhook.PathConference, confForm("participant join", conf, topicA, 3, sid), "", "StatusCallbackEvent"},
		{"conference: StatusCallbackEvent ends in a hyphen", webhook.PathConference, confForm("participant-", conf, topicA, 3, sid), "", "StatusCallbackEvent"},
		{"conference: unused event without ConferenceSid", webhook.PathConference, confForm("conference-record-stop", "", topicA, 3, ""), "", "ConferenceSid"},
		{"conference: unused event with SequenceNumber abc", webhook.PathConference, confForm("participant-speech-start", conf, topicA, 3, sid, "SequenceNumber", "abc"), "", "SequenceNumber"},
		{"conference: huge unknown event", webhook.PathConference, confForm("participant-"+strings.Repeat("z", 5000)+"\nline", conf, topicA, 3, sid), "", "StatusCallbackEvent"},
		{"conference: missing ConferenceSid", webhook.PathConference, confForm("participant-mute", "", topicA, 3, sid), "", "ConferenceSid"},
		{"conference: malformed ConferenceSid", webhook.PathConference, confForm("participant-mute", "CF123", topicA, 3, sid), "", "ConferenceSid"},
		{"conference: missing SequenceNumber", webhook.PathConference, confForm("participant-mute", conf, topicA, 3, sid, "SequenceNumber", ""), "", "SequenceNumber"},
		{"conference: SequenceNumber abc", webhook.PathConference, confForm("participant-mute", conf, topicA, 3, sid, "SequenceNumber", "abc"), "", "SequenceNumber"},
		{"conference: SequenceNumber -1", webhook.PathConference, confForm("participant-mute", conf, topicA, 3, sid, "SequenceNumber", "-1"), "", "SequenceNumber"},
		{"conference: SequenceNumber 1.5", webhook.PathConference, confForm("participant-mute", conf, topicA, 3, sid, "SequenceNumber", "1.5"), "", "SequenceNumber"},
		{"conference: SequenceNumber overflows", webhook.PathConference, confForm("participant-mute", conf, topicA, 3, sid, "SequenceNumber", "99999999999999999999"), "", "SequenceNumber"},
		{"conference: end without SequenceNumber", webhook.PathConference, confForm("conference-end", conf, topicA, 3, "", "SequenceNumber", ""), "", "SequenceNumber"},
		{"conference: participant event without CallSid", webhook.PathConference, confForm("participant-leave", conf, topicA, 3, sid, "CallSid", ""), "", "CallSid"},
		{"conference: participant event with malformed CallSid", webhook.PathConference, confForm("participant-leave", conf, topicA, 3, "CAxyz"), "", "CallSid"},
		{"conference: Muted yes", webhook.PathConference, confForm("participant-join", conf, topicA, 3, sid, "Muted", "yes"), "", "Muted"},
		{"conference: Muted 1", webhook.PathConference, confForm("participant-join", conf, topicA, 3, sid, "Muted", "1"), "", "Muted"},
		{"conference: Hold yes", webhook.PathConference, confForm("participant-hold", conf, topicA, 3, sid, "Hold", "yes"), "", "Hold"},
		{"conference: Hold TRUE", webhook.PathConference, confForm("participant-unhold", conf, topicA, 3, sid, "Hold", "TRUE"), "", "Hold"},
		{"status: missing CallSid", webhook.PathStatus, statusForm(sid, "completed", 3, "CallSid", ""), "", "CallSid"},
		{"status: malformed CallSid", webhook.PathStatus, statusForm("CA"+hex32[:31], "completed", 3), "", "CallSid"},
		{"status: missing CallStatus", webhook.PathStatus, statusForm(sid, "", 3), "", "CallStatus"},
		{"status: CallStatus with a space", webhook.PathStatus, statusForm(sid, "in progress", 3), "", "CallStatus"},
		{"status: unused CallStatus without CallSid", webhook.PathStatus, statusForm(sid, "answered", 3, "CallSid", ""), "", "CallSid"},
		{"status: CallStatus in capitals", webhook.PathStatus, statusForm(sid, "COMPLETED", 3), "", "CallStatus"},
		{"status: SequenceNumber abc", webhook.PathStatus, statusForm(sid, "completed", 3, "SequenceNumber", "abc"), "", "SequenceNumber"},
		{"status: SequenceNumber -1", webhook.PathStatus, statusForm(sid, "completed", 3, "SequenceNumber", "-1"), "", "SequenceNumber"},
		{"status: SequenceNumber 1.5", webhook.PathStatus, statusForm(sid, "completed", 3, "SequenceNumber", "1.5"), "", "SequenceNumber"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBridge(t)
			before := b.onlineMuted(sid, conf) // that a bad request must leave alone
			liveBefore := len(b.live())
			events := b.pub.len()

			r := b.do(request{path: tc.path, form: tc.form, body: tc.body})
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d (%q); want 400", r.status, r.body)
			}
			reason := strings.TrimRight(r.body, "\n")
			if reason == "" || strings.ContainsAny(reason, "\r\n") {
				t.Errorf("reason %q is not one line", r.body)
			}
			if len(reason) > 200 {
				t.Errorf("reason is %d bytes long", len(reason))
			}
			if !strings.Contains(reason, tc.reason) {
				t.Errorf("reason %q does not name %q", reason, tc.reason)
			}
			if strings.Contains(reason, "<Response") {
				t.Errorf("400 carries TwiML")
			}
			after, _ := b.call(sid)
			if after != before {
				t.Errorf("call changed:\nbefore %+v\nafter  %+v", before, after)
			}
			if n := len(b.live()); n != liveBefore {
				t.Errorf("%d live calls; want %d", n, liveBefore)
			}
			if _, stored := b.call(other); stored {
				t.Errorf("the bad request's call was stored")
			}
			if n := b.pub.len(); n != events {
				t.Errorf("bad request published %d events", n-events)
			}
		})
	}
}

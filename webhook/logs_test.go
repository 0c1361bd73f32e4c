package webhook_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/webhook"
)

// TestLogsMaskNumbers runs a masked caller through every webhook, including refused ones, and
// checks that the full number never reaches the log.
func TestLogsMaskNumbers(t *testing.T) {
	for _, mode := range []mapper.CallerIDMode{mapper.CallerIDMasked, mapper.CallerIDHidden} {
		t.Run(string(mode), func(t *testing.T) {
			b := newBridge(t, withOptions(func(o *webhook.Options) { o.CallerID = mode }))
			const to = "+15005550009" // not routed: also logs the dialled number's handling
			b.post(webhook.PathVoice, voiceForm(callA, unknownCaller, to), http.StatusOK)
			b.post(webhook.PathPIN+"?attempt=1", pinForm(callA, unknownCaller, to, "000"), http.StatusOK)
			b.post(webhook.PathPIN+"?attempt=2", pinForm(callA, unknownCaller, to, pinA), http.StatusOK)
			b.post(webhook.PathVoice, voiceForm(callB, unknownCaller, numA, "CallerName", unknownCaller), http.StatusOK)
			b.post(webhook.PathConference, confForm("participant-join", conf1, topicA, 1, callA), http.StatusNoContent)
			b.post(webhook.PathConference, confForm("participant-join", conf1, topicA, 2, callB), http.StatusNoContent)
			b.post(webhook.PathConference, confForm("participant-mute", conf1, topicA, 3, callA), http.StatusNoContent)
			b.post(webhook.PathStatus, statusForm(callB, "completed", 3), http.StatusNoContent)
			b.post(webhook.PathConference, confForm("participant-leave", conf1, topicA, 4, callA), http.StatusNoContent)
			// Refused requests that carry the number.
			b.do(request{path: webhook.PathVoice, form: voiceForm(callSID(99), unknownCaller, to), unsigned: true})
			b.post(webhook.PathVoice, voiceForm("CAbad", unknownCaller, unknownCaller), http.StatusBadRequest)
			b.post(webhook.PathStatus, statusForm(callA, "Exploded!", 9), http.StatusBadRequest)

			logs := b.logs.String()
			lines := strings.Split(strings.TrimSpace(logs), "\n")
			if len(lines) < 10 {
				t.Fatalf("only %d log lines; the test logs nothing worth checking:\n%s", len(lines), logs)
			}
			for _, l := range lines {
				var rec map[string]any
				if err := json.Unmarshal([]byte(l), &rec); err != nil {
					t.Errorf("log line is not JSON: %q", l)
				}
			}
			for _, digits := range []string{"4155550123", "415555012", "155550123"} {
				if strings.Contains(logs, digits) {
					t.Errorf("the log contains %q:\n%s", digits, logs)
				}
			}
			if !strings.Contains(logs, callA) {
				t.Errorf("the log does not name the call %s", callA)
			}
			if n := len(b.pub.all()); n != 5 {
				t.Errorf("published %s; want 5 events (2 online, mute, 2 leaves)", categories(b.pub.all()))
			}
		})
	}
}

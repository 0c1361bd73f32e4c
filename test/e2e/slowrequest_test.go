package e2e

import (
	"testing"
	"time"
)

// TestSlowHangupBlocksNothing: while Twilio takes 4 s to answer an admin's removal, the same
// admin's next request for the parties is answered at once, and so is a webhook; the
// removal is then answered (party.removed to the topic) when Twilio is.
func TestSlowHangupBlocksNothing(t *testing.T) {
	t.Parallel()
	twilio, b, watcher, admin := removalWorld(t)
	conf := confSID(1)
	twilio.setLive(conf, topicA, callSID(1))
	b.dialIn(callSID(1), unknownCaller, numA, conf, topicA, 1)
	watcher.nextPresence()
	admin.nextPresence()

	twilio.slow(4 * time.Second)
	start := time.Now()
	admin.emit("SEND_PRESENCE_EVENT", removal(topicA, callSID(1), "slow"))
	time.Sleep(100 * time.Millisecond) // the removal is waiting on Twilio
	admin.emit("SEND_PRESENCE_EVENT", presenceReq("app.event.presence.request.parties", topicA, map[string]any{}, ""))
	for {
		p := admin.nextPresence()
		if p.Category == "app.event.presence.request.parties" {
			continue // its own request, relayed to the topic
		}
		if took := time.Since(start); p.Sender.ID != callSID(1) || took > time.Second {
			t.Fatalf("answer to request.parties: %s of %s after %v; want the online of %s within 1 s", p.Category, p.Sender.ID, took, callSID(1))
		}
		break
	}
	hook := time.Now()
	b.mustPost("/twilio/voice", voiceForm(callSID(2), unknownCaller, numA), 200)
	if took := time.Since(hook); took > time.Second {
		t.Errorf("a webhook took %v while a removal waited on Twilio", took)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("the checks took %v: Twilio answered before they ended, so they prove nothing", took)
	}

	p := watcher.nextPresence()
	for p.Category != "party.removed" {
		p = watcher.nextPresence()
	}
	if took := time.Since(start); took < 4*time.Second {
		t.Errorf("party.removed after %v; Twilio answered after 4 s", took)
	}
}

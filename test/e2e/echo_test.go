package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestRefusalsEchoWhatWasSent: a real socket.io-client 2.x client can match each refusal to
// its request (contract §3). A SEND_PRESENCE_EVENT over 16 KiB is refused with
// media.session.invalid naming its topicId and loopbackMetadata, as event and as
// acknowledgement; a SUBSCRIBE_CHANNEL for a topic id over 128 characters gets
// SUBSCRIBE_CHANNEL_FAILED naming the channel as sent, not cut. Nobody else hears either.
func TestRefusalsEchoWhatWasSent(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	watcher := subscriber(t, b, topicA, "websocket")
	c := subscriber(t, b, topicA, "websocket")

	big := presenceReq("app.event.presence.party.online", topicA,
		map[string]any{"offline": false, "pad": strings.Repeat("x", 17<<10)}, "big-1")
	c.emit("SEND_PRESENCE_EVENT", big)
	p := expectInvalid(t, c, "big-1")
	if p.TopicID != topicA || !strings.Contains(p.Error, "larger than") {
		t.Errorf("refusal names topic %q, error %q; want %s and the size", p.TopicID, p.Error, topicA)
	}
	line, _ := json.Marshal(map[string]any{"emit": "SEND_PRESENCE_EVENT", "data": presenceReq("app.event.presence.party.online", topicA,
		map[string]any{"pad": strings.Repeat("y", 17<<10)}, "big-2"), "ack": true})
	if _, err := c.stdin.Write(append(line, '\n')); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(eventWait); ; {
		m, ok := c.next(time.Until(deadline))
		if !ok {
			t.Fatal("no acknowledgement of the oversized request")
		}
		if m.Type != "ack" {
			continue
		}
		var ack struct {
			TopicID          string `json:"topicId"`
			Category         string `json:"category"`
			LoopbackMetadata string `json:"loopbackMetadata"`
		}
		if err := json.Unmarshal(m.Data, &ack); err != nil || ack.Category != invalid || ack.TopicID != topicA || ack.LoopbackMetadata != "big-2" {
			t.Errorf("acknowledgement %.300s (%v); want media.session.invalid naming %s and big-2", m.Data, err, topicA)
		}
		break
	}

	long := strings.Repeat("a", 300)
	c.emit("SUBSCRIBE_CHANNEL", map[string]any{"channel": map[string]string{"_id": long, "type": "topic"}})
	var failed struct {
		Channel map[string]string `json:"channel"`
		Error   string            `json:"error"`
	}
	if err := json.Unmarshal(c.waitEvent("SUBSCRIBE_CHANNEL_FAILED"), &failed); err != nil {
		t.Fatal(err)
	}
	if failed.Channel["_id"] != long || failed.Channel["type"] != "topic" || !strings.Contains(failed.Error, "128") {
		t.Errorf("SUBSCRIBE_CHANNEL_FAILED names %q (%d characters), error %q; want the 300-character id as sent",
			failed.Channel["_id"], len(failed.Channel["_id"]), failed.Error)
	}
	watcher.expectNothing(quiet)
}

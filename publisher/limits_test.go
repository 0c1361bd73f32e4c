package publisher

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func subscribeTo(topic string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"channel": map[string]string{"_id": topic, "type": "topic"}})
	return b
}

// TestTopicLimits: a topic id over 128 characters and a 257th subscription are refused with
// SUBSCRIBE_CHANNEL_FAILED, which also acknowledges the request.
func TestTopicLimits(t *testing.T) {
	s, _ := newTestServer(t)
	c := &fakeClient{id: "c"}
	sess, err := s.connect(c, "")
	if err != nil {
		t.Fatal(err)
	}
	ack := s.ask(sess, EvSubscribe, subscribeTo(strings.Repeat("t", 129)))
	if !strings.Contains(string(ack), "longer than 128") || !strings.HasPrefix(c.packets[0], `2/chat,["SUBSCRIBE_CHANNEL_FAILED"`) {
		t.Errorf("a 129-character topic id: ack %s, sent %s", ack, c.packets[0])
	}
	if ack := s.ask(sess, EvSubscribe, subscribeTo(strings.Repeat("t", 128))); strings.Contains(string(ack), "error") {
		t.Errorf("a 128-character topic id refused: %s", ack)
	}
	for i := range maxSubscriptions - 1 {
		if ack := s.ask(sess, EvSubscribe, subscribeTo(fmt.Sprint("topic-", i))); strings.Contains(string(ack), "error") {
			t.Fatalf("subscription %d refused: %s", i+2, ack)
		}
	}
	ack = s.ask(sess, EvSubscribe, subscribeTo("one-too-many"))
	if !strings.Contains(string(ack), "at most 256") {
		t.Errorf("subscription 257: %s; want refused", ack)
	}
	if ack := s.ask(sess, EvSubscribe, subscribeTo("topic-3")); strings.Contains(string(ack), "error") {
		t.Errorf("subscribing again to a topic held: %s", ack)
	}
	if _, subs := counts(s, "one-too-many"); subs != 0 {
		t.Error("the refused subscription was indexed")
	}
}

// TestPresenceSizeLimit: a SEND_PRESENCE_EVENT over 16 KiB is refused with
// media.session.invalid and relayed to nobody.
func TestPresenceSizeLimit(t *testing.T) {
	s, _ := newTestServer(t)
	watcher := &fakeClient{id: "w"}
	w, _ := s.connect(watcher, "")
	s.ask(w, EvSubscribe, subscribeTo("t1"))
	c := &fakeClient{id: "c"}
	sess, _ := s.connect(c, "")
	s.ask(sess, EvSubscribe, subscribeTo("t1"))
	before := watcher.sent

	req := func(n int) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"category": "app.event.presence.party.online", "topicId": "t1",
			"content": map[string]any{"pad": strings.Repeat("x", n)}})
		return b
	}
	big := req(16 << 10)
	ack := s.ask(sess, EvSendPresence, big)
	if !strings.Contains(string(ack), "media.session.invalid") || !strings.Contains(string(ack), "larger than 16384") {
		t.Errorf("a %d-byte request: ack %s", len(big), ack)
	}
	if watcher.sent != before {
		t.Error("an oversized request was relayed")
	}
	small := req(16<<10 - 200)
	if ack := s.ask(sess, EvSendPresence, small); string(ack) != `{"ok":true}` {
		t.Errorf("a %d-byte request: ack %s; want ok", len(small), ack)
	}
	if watcher.sent != before+1 {
		t.Error("a request within the limit was not relayed")
	}
}

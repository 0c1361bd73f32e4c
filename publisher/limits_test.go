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

// TestOversizedRefusalEchoes: the refusal of a SEND_PRESENCE_EVENT over 16 KiB still echoes
// the request's topicId and loopbackMetadata, so that the client can match it (contract §3);
// what cannot be echoed (not a string, over 16 KiB itself, not JSON) is left out, and the
// request is refused all the same.
func TestOversizedRefusalEchoes(t *testing.T) {
	s, _ := newTestServer(t)
	c := &fakeClient{id: "c"}
	sess, _ := s.connect(c, "")
	s.ask(sess, EvSubscribe, subscribeTo("t1"))
	pad := strings.Repeat("x", 16<<10)
	type echo struct {
		TopicID          *string         `json:"topicId"`
		Category         string          `json:"category"`
		LoopbackMetadata json.RawMessage `json:"loopbackMetadata"`
		Error            string          `json:"error"`
	}
	cases := []struct {
		name        string
		req         string
		topic, loop string // "" when not echoed
	}{
		{"padded content", `{"loopbackMetadata":{"req":7,"tag":"a\"b"},"category":"app.event.presence.party.online","content":{"pad":"` + pad + `"},"topicId":"t1"}`,
			"t1", `{"req":7,"tag":"a\"b"}`},
		{"padded loopback", `{"topicId":"t1","category":"x","loopbackMetadata":"` + pad + `"}`, "t1", ""},
		{"topic not a string", `{"topicId":["t1"],"loopbackMetadata":"req-1","content":"` + pad + `"}`, "", `"req-1"`},
		{"not JSON", `{"topicId":"t1","loopbackMetadata":"req-1","content":"` + pad, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ack := s.ask(sess, EvSendPresence, json.RawMessage(tc.req))
			var got echo
			if err := json.Unmarshal(ack, &got); err != nil {
				t.Fatalf("ack %.200s: %v", ack, err)
			}
			if got.Category != "media.session.invalid" || !strings.Contains(got.Error, "larger than 16384") {
				t.Errorf("ack %.300s; want media.session.invalid, larger than 16384", ack)
			}
			if topic := ""; got.TopicID != nil {
				topic = *got.TopicID
				if topic != tc.topic {
					t.Errorf("topicId %q; want %q", topic, tc.topic)
				}
			}
			if string(got.LoopbackMetadata) != tc.loop {
				t.Errorf("loopbackMetadata %.100s; want %s", got.LoopbackMetadata, tc.loop)
			}
		})
	}
}

// TestTooLongTopicEchoed: SUBSCRIBE_CHANNEL_FAILED for a topic id over 128 characters names
// the channel exactly as the client sent it, not cut, so that the client can match it.
func TestTooLongTopicEchoed(t *testing.T) {
	s, _ := newTestServer(t)
	c := &fakeClient{id: "c"}
	sess, _ := s.connect(c, "")
	for _, n := range []int{129, 5000} {
		id := strings.Repeat("t", n)
		sent := `{"_id":"` + id + `","type":"topic","name":"Weekly"}`
		ack := s.ask(sess, EvSubscribe, json.RawMessage(`{"channel":`+sent+`}`))
		var got struct {
			Channel json.RawMessage `json:"channel"`
			Error   string          `json:"error"`
		}
		if err := json.Unmarshal(ack, &got); err != nil {
			t.Fatal(err)
		}
		if string(got.Channel) != sent || !strings.Contains(got.Error, "longer than 128") {
			t.Errorf("%d characters: channel %.200s, error %q; want the channel as sent", n, got.Channel, got.Error)
		}
	}
	// A refusal with no channel at all still names an (empty) channel.
	ack := s.ask(sess, EvSubscribe, json.RawMessage(`{}`))
	if !strings.Contains(string(ack), `"channel":{"_id":"","type":""}`) {
		t.Errorf("no channel: %s", ack)
	}
}

// TestLeavesOnDropKeepsLittle: a client that announces itself online with a 15 KiB content
// in 256 topics has a leaves sent on its behalf in each when it drops, with its session id,
// role and self-mute, disconnected; the connection kept only those fields meanwhile (at
// most 256 bytes of strings a topic), not the contents.
func TestLeavesOnDropKeepsLittle(t *testing.T) {
	s, _ := newTestServer(t)
	watcher := &fakeClient{id: "watcher"}
	w, err := s.connect(watcher, "")
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeClient{id: "c"}
	sess, err := s.connect(c, "")
	if err != nil {
		t.Fatal(err)
	}
	content, _ := json.Marshal(map[string]any{"role": "member", "sessionId": "web-session-1", "offline": false,
		"mediaSession": map[string]any{"selfMuted": true, "connected": true, "audio": true}, "note": strings.Repeat("n", 15<<10)})
	for i := range maxSubscriptions {
		topic := fmt.Sprintf("%0128d", i)
		s.ask(sess, EvSubscribe, subscribeTo(topic))
		req, _ := json.Marshal(map[string]any{"category": "app.event.presence.party.online", "topicId": topic, "content": json.RawMessage(content)})
		if ack := s.ask(sess, EvSendPresence, req); strings.Contains(string(ack), "error") {
			t.Fatalf("online in topic %d refused: %s", i, ack)
		}
	}
	kept := 0
	for _, l := range sess.online {
		kept += len(l.Role) + len(l.SessionID)
	}
	if n := len(sess.online); n != maxSubscriptions || kept > 256*maxSubscriptions {
		t.Errorf("online in %d topics, keeping %d bytes of strings; want %d topics, at most 256 bytes each", n, kept, maxSubscriptions)
	}
	s.ask(w, EvSubscribe, subscribeTo(fmt.Sprintf("%0128d", 7)))
	before := len(watcher.packets)
	s.disconnect(sess)
	var leaves []string
	for _, p := range watcher.packets[before:] {
		if strings.Contains(p, "app.event.presence.party.leaves") {
			leaves = append(leaves, p)
		}
	}
	if len(leaves) != 1 {
		t.Fatalf("the watcher got %d leaves; want the dropped client's one: %q", len(leaves), watcher.packets[before:])
	}
	for _, want := range []string{`"sessionId":"web-session-1"`, `"role":"member"`, `"selfMuted":true`, `"connected":false`, `"audio":false`} {
		if !strings.Contains(leaves[0], want) {
			t.Errorf("leaves %s; want %s in it", leaves[0][:min(len(leaves[0]), 600)], want)
		}
	}
	if len(leaves[0]) > 1024 {
		t.Errorf("the leaves is %d bytes: it carries the content", len(leaves[0]))
	}
}

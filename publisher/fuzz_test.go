package publisher

import (
	"encoding/json"
	"testing"
)

// FuzzDecodePresence: no payload a client sends panics the decoder, an accepted request has
// a category, a topic and an object content, and a refusal still echoes a string topic.
func FuzzDecodePresence(f *testing.F) {
	for _, s := range []string{
		`{"category":"app.event.presence.party.online","topicId":"t1","content":{"offline":false}}`,
		`{"category":"app.event.presence.request.parties","topicId":"t1"}`,
		`{"category":"party.removed","topicId":"t1","content":{"attendee":{"attendeeType":"userId","attendee":"CA1"}},"loopbackMetadata":{"k":[1,2]}}`,
		`{"category":7}`, `"text"`, `[]`, `null`, `{"topicId":["x"],"loopbackMetadata":"m"}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := decodePresence(json.RawMessage(raw))
		if err != nil {
			return
		}
		if req.Category == "" || req.TopicID == "" || len(req.Content) == 0 || req.Content[0] != '{' {
			t.Errorf("accepted %q as %+v", raw, req)
		}
	})
}

// FuzzDecodeChannel: channel requests never panic, and an accepted one names a topic.
func FuzzDecodeChannel(f *testing.F) {
	for _, s := range []string{`{"channel":{"_id":"t1","type":"topic"}}`, `{"channel":{"_id":"t1"}}`, `{"channel":null}`, `42`, `{"channel":{"_id":5}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ch, _, err := decodeChannel(json.RawMessage(raw))
		if err == nil && (ch.ID == "" || ch.Type != ChannelTopic) {
			t.Errorf("accepted %q as %+v", raw, ch)
		}
	})
}

package publisher

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestEventPacketASCII checks that what the bridge emits is ASCII and decodes to the same
// values.
func TestEventPacketASCII(t *testing.T) {
	for _, s := range []string{"John Smith", "+1 ••• 0123", "Zoë Müller", "日本語", "emoji 📞 call", `quote " and \ slash`, "<b>&</b>"} {
		b, err := json.Marshal(map[string]any{"displayname": s, "n": 1})
		if err != nil {
			t.Fatal(err)
		}
		p := eventPacket(EvPresenceResponse, b)
		for i := 0; i < len(p); i++ {
			if p[i] >= utf8.RuneSelf {
				t.Fatalf("packet for %q = %s: not ASCII", s, p)
			}
		}
		rest, ok := strings.CutPrefix(string(p), `2/chat,`)
		if !ok {
			t.Fatalf("packet %s is not an event of /chat", p)
		}
		var name string
		var raw []json.RawMessage
		if err := json.Unmarshal([]byte(rest), &raw); err != nil || len(raw) != 2 {
			t.Fatalf("packet %s: %v", p, err)
		}
		json.Unmarshal(raw[0], &name)
		var out map[string]any
		if err := json.Unmarshal(raw[1], &out); err != nil {
			t.Fatal(err)
		}
		if name != EvPresenceResponse || out["displayname"] != s {
			t.Errorf("packet for %q decodes to %q, %q", s, name, out["displayname"])
		}
	}
}

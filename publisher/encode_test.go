package publisher

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// TestEncodeASCII checks that what the bridge emits is ASCII and decodes to the same values.
func TestEncodeASCII(t *testing.T) {
	for _, s := range []string{"John Smith", "+1 ••• 0123", "Zoë Müller", "日本語", "emoji 📞 call", `quote " and \ slash`, "<b>&</b>"} {
		in := map[string]any{"displayname": s, "n": 1}
		e, err := encode(in)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(e); i++ {
			if e[i] >= utf8.RuneSelf {
				t.Fatalf("encode(%q) = %s: not ASCII", s, e)
			}
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(e), &out); err != nil {
			t.Fatalf("encode(%q) = %s: %v", s, e, err)
		}
		if out["displayname"] != s {
			t.Errorf("encode(%q) decodes to %q", s, out["displayname"])
		}
	}
}

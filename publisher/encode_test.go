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

// TestReframe checks the rewriting of polling payloads: lengths in UTF-16 units in, ASCII
// packets with byte lengths out.
func TestReframe(t *testing.T) {
	tests := []struct{ in, want string }{
		{`12:42/chat,["x"]`, ""}, // ASCII: untouched
		{`15:42/chat,["Zoë"]`, `20:42/chat,["Zo\u00eb"]`},
		{`2:40` + `14:42/chat,["日本"]` + `1:2`, `2:40` + `24:42/chat,["\u65e5\u672c"]` + `1:2`},
		{`16:42/chat,["📞 a"]`, `26:42/chat,["\ud83d\udcde a"]`},
		{`99:42/chat,["Zoë"]`, ""}, // length beyond the body: left for go-socket.io to refuse
		{`x:42/chat,["Zoë"]`, ""},
	}
	for _, tc := range tests {
		got, ok := reframe([]byte(tc.in))
		if tc.want == "" {
			if ok {
				t.Errorf("reframe(%q) = %q; want untouched", tc.in, got)
			}
			continue
		}
		if !ok || string(got) != tc.want {
			t.Errorf("reframe(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

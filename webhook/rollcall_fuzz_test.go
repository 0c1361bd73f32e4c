package webhook

import (
	"encoding/xml"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/twilio/twilio-go/twiml"
)

// FuzzSpeakable: whatever a web party or directory entry is named, the roll call reads a
// name of at most maxSpokenName characters of letters, marks, spaces and a few name marks,
// with no control character and never more than four digits, or leaves it out; and the
// TwiML holding it always parses, with the text as written.
func FuzzSpeakable(f *testing.F) {
	for _, seed := range []string{"Ann Lee", "<speak>Eve</speak>", "Mal\x07lory", strings.Repeat("Zed ", 125),
		"+1 415 555 0100", "Ann & Bob", "Ø'Brien-Łukasz", "\xff\xfe", "]]><Hangup/>", "&#x3C;Play&#x3E;", "Ann\u200bLee"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		s, ok := speakable(name)
		if !ok {
			if s != "" {
				t.Fatalf("left out but returned %q", s)
			}
			return
		}
		if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxSpokenName {
			t.Fatalf("speakable(%q) = %q", name, s)
		}
		digits := 0
		for _, r := range s {
			switch {
			case unicode.IsControl(r) || strings.ContainsRune("<>&\"", r):
				t.Fatalf("speakable(%q) = %q holds %q", name, s, r)
			case unicode.IsDigit(r):
				digits++
			}
		}
		if digits > 4 {
			t.Fatalf("speakable(%q) = %q reads a number", name, s)
		}
		x, err := twiml.Voice([]twiml.Element{&twiml.VoiceSay{Message: rollCallText(Present{Web: []string{name}})}})
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Say string `xml:"Say"`
		}
		if err := xml.Unmarshal([]byte(x), &doc); err != nil {
			t.Fatalf("TwiML for %q does not parse: %v\n%s", name, err, x)
		}
		if !strings.Contains(doc.Say, s) {
			t.Fatalf("said %q; want it to read %q", doc.Say, s)
		}
	})
}

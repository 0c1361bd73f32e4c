package mapper

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestGolden checks the events against the room platform's own examples, field for field:
// the contract's dial-in event and the spec's two "Payload for dialin user" payloads, kept
// verbatim in testdata/.
func TestGolden(t *testing.T) {
	smith := Party{
		CallSID: "CAe1889084a107d447398c45f7ab8f7aa2", TopicID: "5a1339868509b80641a56655",
		Username: "jsmith@fakeemail.com", DisplayName: "John Smith",
	}
	specPicture := "https://storage.googleapis.com/onesnatesting/pictures/pfpic_johns_026498e4-e761-4acf-9a09-5b37ac7ed072"
	tests := []struct {
		file  string
		party Party
		build func(Party, string) Event
		id    string
	}{
		{"contract-online.json", with(smith, "https://example.com/p/jsmith.png"), Online, "00fa52ac-1904-46ea-b7dc-1c496a712aef"},
		{"spec-dialin-online.json", with(smith, specPicture), Online, "00fa52ac-1904-46ea-b7dc-1c496a712aef"},
		{"spec-dialin-leaves.json", with(smith, specPicture), Leaves, "a5121c6d-33c4-4da7-841f-17a0225db85f"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			want := decode(t, mustRead(t, filepath.Join("testdata", tc.file)))
			b, err := json.Marshal(tc.build(tc.party, tc.id))
			if err != nil {
				t.Fatal(err)
			}
			got := decode(t, b)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("event differs from %s\n got: %s\nwant: %s", tc.file, b, mustRead(t, filepath.Join("testdata", tc.file)))
			}
		})
	}
}

func with(p Party, picture string) Party {
	p.PictureURL = picture
	return p
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

// TestMediaState: mute and hold show in every event; a leaves is never connected or on the
// phone; role defaults to guest; the version is never sent.
func TestMediaState(t *testing.T) {
	p := Party{CallSID: "CA1", TopicID: "t", Role: "admin", Muted: true, OnHold: true, Version: 7}
	on := Online(p, "id")
	if !on.Content.MediaSession.SelfMuted || on.Content.MediaSession.Audio || !on.Content.MediaSession.Connected ||
		!on.Content.MediaSession.Phone || on.Content.Role != "admin" {
		t.Errorf("muted, held online: %+v role %q", on.Content.MediaSession, on.Content.Role)
	}
	off := Leaves(p, "id")
	if off.Content.MediaSession.Connected || off.Content.MediaSession.Phone || off.Category != CategoryLeaves {
		t.Errorf("leaves: %+v", off.Content.MediaSession)
	}
	p.Role = ""
	if r := Online(p, "id").Content.Role; r != "guest" {
		t.Errorf("default role %q; want guest", r)
	}
	b, _ := json.Marshal(on)
	keys := decode(t, b)
	if len(keys) != 5 {
		t.Errorf("event has keys %v; want exactly _id, category, topicId, sender, content", keys)
	}
}

func TestDisplayName(t *testing.T) {
	tests := []struct {
		from, callerName string
		mode             CallerIDMode
		want             string
	}{
		{"+14155550123", "", CallerIDMasked, "+1 ••• 0123"},
		{"+442071838750", "", CallerIDMasked, "+44 ••• 8750"},
		{"+4930123456789", "", CallerIDMasked, "+49 ••• 6789"},
		{"+14155550123", "", CallerIDFull, "+1 415-555-0123"},
		{"+442071838750", "", CallerIDFull, "+44 20 7183 8750"},
		{"+14155550123", "", CallerIDHidden, HiddenName},
		{"+14155550123", "DOE JANE", CallerIDMasked, "DOE JANE"},
		{"+14155550123", "DOE JANE", CallerIDHidden, "DOE JANE"},
		{"+14155550123", "(415) 555-0123", CallerIDMasked, "+1 ••• 0123"},
		{"+14155550123", "+14155550123", CallerIDHidden, HiddenName},
		{"anonymous", "", CallerIDFull, AnonymousName},
		{"Anonymous", "", CallerIDMasked, AnonymousName},
		{"restricted", "", CallerIDMasked, AnonymousName},
		{"unknown", "", CallerIDMasked, AnonymousName},
		{"+266696687", "", CallerIDFull, AnonymousName},
		{"", "", CallerIDMasked, AnonymousName},
		{"12345", "", CallerIDFull, AnonymousName},
		{"sip:alice@example.com", "", CallerIDFull, AnonymousName},
		{"anonymous", "DOE JANE", CallerIDMasked, AnonymousName},
	}
	for _, tc := range tests {
		if got := DisplayName(tc.from, tc.callerName, tc.mode); got != tc.want {
			t.Errorf("DisplayName(%q, %q, %s) = %q; want %q", tc.from, tc.callerName, tc.mode, got, tc.want)
		}
	}
}

func TestMask(t *testing.T) {
	for number, national := range map[string]string{
		"+14155550123": "4155550123", "+442071838750": "2071838750", "+4930123456789": "30123456789",
	} {
		m := Mask(number)
		if strings.Contains(digits(m), national) || !strings.HasSuffix(m, national[len(national)-4:]) {
			t.Errorf("Mask(%s) = %q: want country code and last four digits only", number, m)
		}
	}
	if Mask("") != "" || Mask("anonymous") != "•••" {
		t.Errorf("Mask of non-numbers: %q %q", Mask(""), Mask("anonymous"))
	}
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// FuzzDisplayName: no input panics, and in masked or hidden mode no run of seven or more of
// the caller's digits survives into the name.
func FuzzDisplayName(f *testing.F) {
	for _, s := range []string{"+14155550123", "+442071838750", "anonymous", "+266696687", "", "12345", "+1 (415) 555-0123", "+999999999999999999"} {
		f.Add(s, "")
		f.Add(s, "DOE JANE")
	}
	f.Fuzz(func(t *testing.T, from, callerName string) {
		for _, mode := range []CallerIDMode{CallerIDMasked, CallerIDHidden} {
			name := DisplayName(from, callerName, mode)
			d := digits(from)
			if len(d) >= 7 && strings.Contains(digits(name), d) {
				t.Errorf("DisplayName(%q, %q, %s) = %q shows the number", from, callerName, mode, name)
			}
			_ = Mask(from)
		}
	})
}

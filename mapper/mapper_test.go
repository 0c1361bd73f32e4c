package mapper

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/uuid"
)

// smith is the caller of the contract's and the spec's examples.
var smith = Party{
	CallSID:     "CAe1889084a107d447398c45f7ab8f7aa2",
	TopicID:     "5a1339868509b80641a56655",
	Username:    "jsmith@fakeemail.com",
	DisplayName: "John Smith",
}

// TestGolden checks the events against the room platform's own examples, field for field:
// the contract's dial-in event and the spec's two "Payload for dialin user" payloads, kept
// verbatim in testdata/. The comparison is of decoded JSON: key order is free, but every key
// and value must match, none missing and none extra.
func TestGolden(t *testing.T) {
	specPicture := "https://storage.googleapis.com/onesnatesting/pictures/pfpic_johns_026498e4-e761-4acf-9a09-5b37ac7ed072"
	tests := []struct {
		file  string
		party Party
		build func(Party, string) Event
		id    string
	}{
		{"contract-online.json", with(smith, "https://example.com/p/jsmith.png"), Online, "00fa52ac-1904-46ea-b7dc-1c496a712aef"},
		{"spec-dialin-online.json", with(smith, specPicture), Online, "00fa52ac-1904-46ea-b7dc-1c496a712aef"},
		// The spec's leaves keeps audio true and selfMuted false: the last media state of a
		// caller who was neither held nor muted, no longer connected nor on the phone.
		{"spec-dialin-leaves.json", with(smith, specPicture), Leaves, "a5121c6d-33c4-4da7-841f-17a0225db85f"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			golden := mustRead(t, filepath.Join("testdata", tc.file))
			want := decode(t, golden)
			// The golden file's own _id is the id the caller passes.
			if want["_id"] != tc.id {
				t.Fatalf("%s has _id %v; the table says %s", tc.file, want["_id"], tc.id)
			}
			b, err := json.Marshal(tc.build(tc.party, tc.id))
			if err != nil {
				t.Fatal(err)
			}
			got := decode(t, b)
			// content.reason is the contract's addition to the spec's leaves (§6).
			if content, _ := got["content"].(map[string]any); got["category"] == CategoryLeaves {
				if content["reason"] != ReasonHungUp {
					t.Errorf("leaves reason %v; want %s", content["reason"], ReasonHungUp)
				}
				delete(content, "reason")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("event differs from %s\n got: %s\nwant: %s", tc.file, b, golden)
			}
		})
	}
}

// TestGoldenDiffers: the golden comparison can fail. Any one change to the party, or the
// wrong builder, gives an event that no longer matches the file.
func TestGoldenDiffers(t *testing.T) {
	want := decode(t, mustRead(t, filepath.Join("testdata", "spec-dialin-online.json")))
	id := want["_id"].(string)
	base := with(smith, "https://storage.googleapis.com/onesnatesting/pictures/pfpic_johns_026498e4-e761-4acf-9a09-5b37ac7ed072")
	for name, ev := range map[string]Event{
		"leaves instead of online": Leaves(base, id),
		"muted":                    Online(func() Party { p := base; p.Muted = true; return p }(), id),
		"on hold":                  Online(func() Party { p := base; p.OnHold = true; return p }(), id),
		"member role":              Online(func() Party { p := base; p.Role = "member"; return p }(), id),
		"other topic":              Online(func() Party { p := base; p.TopicID = "x"; return p }(), id),
		"other id":                 Online(base, uuid.NewString()),
	} {
		b, _ := json.Marshal(ev)
		if reflect.DeepEqual(decode(t, b), want) {
			t.Errorf("%s: still equal to the golden online event", name)
		}
	}
}

// TestEventID: _id is exactly the id passed in, a fresh UUID per event in practice; nothing
// else of the event depends on it.
func TestEventID(t *testing.T) {
	for _, build := range []func(Party, string) Event{Online, Leaves} {
		a, b := uuid.NewString(), uuid.NewString()
		ea, eb := build(smith, a), build(smith, b)
		if ea.ID != a || eb.ID != b {
			t.Errorf("%s: _id %q, %q; want %q, %q", ea.Category, ea.ID, eb.ID, a, b)
		}
		raw, _ := json.Marshal(ea)
		if got := decode(t, raw)["_id"]; got != a {
			t.Errorf("%s: encoded _id %v; want %s", ea.Category, got, a)
		}
		eb.ID = a
		if !reflect.DeepEqual(ea, eb) {
			t.Errorf("%s: events with different ids differ elsewhere: %+v vs %+v", ea.Category, ea, eb)
		}
	}
}

// TestMediaState: mute and hold show in online and leaves events; a leaves is never
// connected or on the phone; role defaults to guest; identity and session come from the
// party; the version is never sent.
func TestMediaState(t *testing.T) {
	tests := []struct {
		name              string
		build             func(Party, string) Event
		role              string
		muted, held       bool
		wantCategory      string
		wantRole          string
		wantAudio, wantOn bool
	}{
		{"online", Online, "", false, false, CategoryOnline, "guest", true, true},
		{"online muted", Online, "", true, false, CategoryOnline, "guest", true, true},
		{"online held", Online, "member", false, true, CategoryOnline, "member", false, true},
		{"online muted and held", Online, "admin", true, true, CategoryOnline, "admin", false, true},
		{"leaves", Leaves, "", false, false, CategoryLeaves, "guest", true, false},
		{"leaves muted and held", Leaves, "member", true, true, CategoryLeaves, "member", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Party{CallSID: "CA1", TopicID: "T1", Username: "u", DisplayName: "d", PictureURL: "p",
				Role: tc.role, Muted: tc.muted, OnHold: tc.held, Version: 7}
			ev := tc.build(p, "id")
			want := Event{
				ID: "id", Category: tc.wantCategory, TopicID: "T1", Version: 7,
				Sender: Sender{ID: "CA1", Type: "phone", Username: "u", DisplayName: "d", PictureURL: "p"},
				Content: Content{
					Role: tc.wantRole, EmittedBy: "wcs", SessionID: "CA1",
					MediaSession: MediaSession{Audio: tc.wantAudio, Connected: tc.wantOn, Phone: tc.wantOn, SelfMuted: tc.muted},
				},
			}
			if tc.wantCategory == CategoryLeaves {
				want.Content.Reason = ReasonHungUp
			}
			if !reflect.DeepEqual(ev, want) {
				t.Errorf("got  %+v\nwant %+v", ev, want)
			}
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			m := decode(t, b)
			if _, ok := m["Version"]; ok || len(m) != 5 {
				t.Errorf("encoded keys %v; want exactly _id, category, topicId, sender, content", keys(m))
			}
		})
	}
}

func with(p Party, picture string) Party {
	p.PictureURL = picture
	return p
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
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

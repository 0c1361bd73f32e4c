package rooms_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/rooms"
)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseExample(t *testing.T) {
	r, err := rooms.Parse(readFile(t, "example.json"))
	if err != nil {
		t.Fatalf("Parse(example.json): %v", err)
	}
	if topics, callers := r.Len(); topics != 2 || callers != 1 {
		t.Errorf("Len() = %d topics, %d callers; want 2, 1", topics, callers)
	}
	if !r.HasPINs() {
		t.Error("HasPINs() = false; want true")
	}

	lookups := []struct {
		name   string
		lookup func() (rooms.Topic, bool)
		wantID string // empty: not found
	}{
		{"topic by id", func() (rooms.Topic, bool) { return r.Topic("5a1339868509b80641a56655") }, "5a1339868509b80641a56655"},
		{"unknown topic id", func() (rooms.Topic, bool) { return r.Topic("000000000000000000000000") }, ""},
		{"by number", func() (rooms.Topic, bool) { return r.ByNumber("+442071838750") }, "5f06c25e574ca36b54cb4cdf"},
		{"by number with spaces", func() (rooms.Topic, bool) { return r.ByNumber(" +15005550006 ") }, "5a1339868509b80641a56655"},
		{"unknown number", func() (rooms.Topic, bool) { return r.ByNumber("+15005550009") }, ""},
		{"empty number", func() (rooms.Topic, bool) { return r.ByNumber("") }, ""},
		{"by pin", func() (rooms.Topic, bool) { return r.ByPIN("771204") }, "5f06c25e574ca36b54cb4cdf"},
		{"wrong pin", func() (rooms.Topic, bool) { return r.ByPIN("000000") }, ""},
		{"empty pin", func() (rooms.Topic, bool) { return r.ByPIN("") }, ""},
	}
	for _, tc := range lookups {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.lookup()
			if tc.wantID == "" {
				if ok {
					t.Fatalf("found topic %q; want none", got.ID)
				}
				return
			}
			if !ok || got.ID != tc.wantID {
				t.Fatalf("got %q, %v; want %q, true", got.ID, ok, tc.wantID)
			}
		})
	}

	c, ok := r.Caller("+14155550100")
	want := rooms.Caller{Number: "+14155550100", Username: "jsmith@fakeemail.com", DisplayName: "John Smith",
		PictureURL: "https://example.com/p/jsmith.png", Role: "member"}
	if !ok || c != want {
		t.Errorf("Caller(+14155550100) = %+v, %v; want %+v, true", c, ok, want)
	}
	if _, ok := r.Caller("+14155550199"); ok {
		t.Error("Caller(+14155550199) found; want not found")
	}
}

func TestParseNoPINs(t *testing.T) {
	r, err := rooms.Parse(readFile(t, "nopins.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.HasPINs() {
		t.Error("HasPINs() = true for a file without PINs")
	}
	if _, ok := r.ByPIN(""); ok {
		t.Error("ByPIN(\"\") found a topic")
	}
}

func TestEmpty(t *testing.T) {
	r := rooms.Empty()
	if topics, callers := r.Len(); topics != 0 || callers != 0 {
		t.Errorf("Empty().Len() = %d, %d", topics, callers)
	}
	if r.HasPINs() {
		t.Error("Empty().HasPINs() = true")
	}
}

func TestParseValidVariants(t *testing.T) {
	tests := []struct {
		name string
		json string
	}{
		{"empty object", `{}`},
		{"trailing newline and spaces", "{\"topics\": []}\n  \n"},
		{"topic without pin or numbers", `{"topics":[{"topicId":"t1"}]}`},
		{"roles", `{"callers":[
			{"number":"+14155550100","role":"admin"},
			{"number":"+14155550101","role":"member"},
			{"number":"+14155550102","role":"guest"},
			{"number":"+14155550103"}]}`},
		{"name, lobby and roll call", `{"topics":[{"topicId":"t1","name":"Weekly sync","lobby":true,"rollCall":true}]}`},
		{"name of 100 characters", `{"topics":[{"topicId":"t1","name":"` + strings.Repeat("é", 100) + `"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := rooms.Parse([]byte(tc.json)); err != nil {
				t.Fatalf("Parse: %v", err)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name string
		json string
		// wantIn are substrings the error must contain.
		wantIn []string
		// secret are strings (full phone numbers) the error must not contain.
		secret []string
	}{
		{name: "malformed JSON", json: `{"topics": [`},
		{name: "not an object", json: `[]`},
		{name: "unknown top-level field", json: `{"topics":[],"extra":1}`, wantIn: []string{"extra"}},
		{name: "unknown topic field", json: `{"topics":[{"topicId":"t1","pins":"1234"}]}`, wantIn: []string{"pins"}},
		{name: "unknown caller field", json: `{"callers":[{"number":"+14155550100","name":"x"}]}`, wantIn: []string{"name"}},
		{name: "trailing object", json: `{"topics":[]} {"topics":[]}`, wantIn: []string{"trailing"}},
		{name: "trailing garbage", json: `{"topics":[]} x`},
		{name: "empty topic id", json: `{"topics":[{"topicId":" "}]}`, wantIn: []string{"topicId"}},
		{name: "duplicate topic id", json: `{"topics":[{"topicId":"t1"},{"topicId":"t1"}]}`, wantIn: []string{"t1", "twice"}},
		{name: "name over 100 characters", json: `{"topics":[{"topicId":"t1","name":"` + strings.Repeat("a", 101) + `"}]}`, wantIn: []string{"t1", "name", "101"}},
		{name: "name with a control character", json: `{"topics":[{"topicId":"t1","name":"a\u0007b"}]}`, wantIn: []string{"t1", "control"}},
		{name: "lobby not a bool", json: `{"topics":[{"topicId":"t1","lobby":"yes"}]}`, wantIn: []string{"lobby"}},
		{name: "pin not digits", json: `{"topics":[{"topicId":"t1","pin":"12a4"}]}`, wantIn: []string{"t1", "pin"}},
		{
			name:   "duplicate PIN across topics",
			json:   `{"topics":[{"topicId":"t1","pin":"482913"},{"topicId":"t2","pin":"482913"}]}`,
			wantIn: []string{"t1", "t2", "pin"},
			secret: []string{"482913"},
		},
		{
			name:   "duplicate number across topics",
			json:   `{"topics":[{"topicId":"t1","numbers":["+15005550006"]},{"topicId":"t2","numbers":["+15005550006"]}]}`,
			wantIn: []string{"t1", "t2"},
			secret: []string{"15005550006", "5005550006"},
		},
		{
			name:   "duplicate number within a topic",
			json:   `{"topics":[{"topicId":"t1","numbers":["+15005550006","+15005550006"]}]}`,
			wantIn: []string{"t1"},
			secret: []string{"15005550006", "5005550006"},
		},
		{
			name:   "topic number without plus",
			json:   `{"topics":[{"topicId":"t1","numbers":["15005550006"]}]}`,
			wantIn: []string{"t1", "E.164"},
			secret: []string{"15005550006", "5005550006"},
		},
		{
			name:   "topic number national format",
			json:   `{"topics":[{"topicId":"t1","numbers":["(415) 555-0100"]}]}`,
			wantIn: []string{"t1", "E.164"},
			secret: []string{"555-0100", "(415) 555"},
		},
		{
			name:   "topic number too long",
			json:   `{"topics":[{"topicId":"t1","numbers":["+14155550100123456"]}]}`,
			wantIn: []string{"E.164"},
			secret: []string{"14155550100123456"},
		},
		{
			name:   "caller number not E.164",
			json:   `{"callers":[{"number":"4155550100"}]}`,
			wantIn: []string{"callers[0]", "E.164"},
			secret: []string{"4155550100"},
		},
		{
			name:   "caller number empty",
			json:   `{"callers":[{"number":""}]}`,
			wantIn: []string{"callers[0]"},
		},
		{
			name:   "duplicate caller",
			json:   `{"callers":[{"number":"+14155550100"},{"number":"+14155550100"}]}`,
			wantIn: []string{"callers[1]"},
			secret: []string{"14155550100", "4155550100"},
		},
		{
			name:   "bad role",
			json:   `{"callers":[{"number":"+14155550100","role":"owner"}]}`,
			wantIn: []string{"callers[0]", "owner"},
			secret: []string{"14155550100", "4155550100"},
		},
		{
			name:   "role is case sensitive",
			json:   `{"callers":[{"number":"+14155550100","role":"Admin"}]}`,
			wantIn: []string{"Admin"},
		},
		{
			name: "every problem is named",
			json: `{"topics":[{"topicId":"t1","pin":"1"},{"topicId":"t2","pin":"1","numbers":["+1"]}],
				"callers":[{"number":"+14155550100","role":"root"}]}`,
			wantIn: []string{"t2", "pin", "E.164", "root"},
			secret: []string{"14155550100"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := rooms.Parse([]byte(tc.json))
			if err == nil {
				t.Fatalf("Parse succeeded (%v); want an error", r)
			}
			if !errors.Is(err, rooms.ErrInvalid) {
				t.Errorf("error %q is not ErrInvalid", err)
			}
			if r != nil {
				t.Errorf("Parse returned rooms with the error")
			}
			msg := err.Error()
			for _, s := range tc.wantIn {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
			for _, s := range tc.secret {
				if strings.Contains(msg, s) {
					t.Errorf("error %q contains %q", msg, s)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q spans several lines", msg)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	if _, err := rooms.Load(filepath.Join("testdata", "example.json")); err != nil {
		t.Fatalf("Load(example.json): %v", err)
	}
	_, err := rooms.Load(filepath.Join(t.TempDir(), "missing.json"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(missing) = %v; want a not-exist error", err)
	}
}

// TestBuildRefusesWhole checks that a file with one bad entry is refused whole.
func TestBuildRefusesWhole(t *testing.T) {
	_, err := rooms.Build(rooms.File{
		Topics: []rooms.Topic{{ID: "t1", PIN: "1234"}},
		Callers: []rooms.Caller{
			{Number: "+14155550100"},
			{Number: "+14155550101", Role: "superuser"},
		},
	})
	if !errors.Is(err, rooms.ErrInvalid) {
		t.Fatalf("Build = %v; want ErrInvalid", err)
	}
}

func TestTopicCallerFeatures(t *testing.T) {
	r, err := rooms.Parse([]byte(`{"topics":[{"topicId":"t1","name":"Weekly sync","lobby":true,"rollCall":true},{"topicId":"t2"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	t1, _ := r.Topic("t1")
	if t1.Name != "Weekly sync" || !t1.Lobby || !t1.RollCall {
		t.Errorf("t1 = %+v; want its name, lobby and roll call", t1)
	}
	t2, _ := r.Topic("t2")
	if t2.Name != "" || t2.Lobby || t2.RollCall {
		t.Errorf("t2 = %+v; want none of them", t2)
	}
}

// TestTopicsInFileOrder: Topics lists every topic as the file does, in its order, whatever
// the ids' order.
func TestTopicsInFileOrder(t *testing.T) {
	r, err := rooms.Parse([]byte(`{"topics": [
		{"topicId": "zz", "pin": "1", "name": "Last by id"},
		{"topicId": "aa", "pin": "2"},
		{"topicId": "mm", "pin": "3", "name": "Middle"}], "callers": []}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tp := range r.Topics() {
		got = append(got, tp.ID+":"+tp.Name)
	}
	if want := "zz:Last by id aa: mm:Middle"; strings.Join(got, " ") != want {
		t.Errorf("Topics() = %q; want %q", strings.Join(got, " "), want)
	}
	if n := len(rooms.Empty().Topics()); n != 0 {
		t.Errorf("Empty().Topics() has %d topics; want 0", n)
	}
}

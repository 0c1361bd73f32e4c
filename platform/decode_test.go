package platform

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// The files in testdata/adapter were written by notepack.io, the encoder socket.io-redis 5.4
// uses, from the messages a socket.io 2 node broadcasts.
func readAdapter(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "adapter", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeNodeMessages(t *testing.T) {
	m, err := Decode(readAdapter(t, "request-parties.msgpack"))
	if err != nil {
		t.Fatal(err)
	}
	want := Message{UID: "AbCdEf", Type: 2, Nsp: "/chat", Name: EventName, Rooms: []string{"room:5a1339868509b80641a56655"},
		Event: Event{ID: "5f0c-req-1", Category: mapper.CategoryRequestParties, TopicID: "5a1339868509b80641a56655", SenderID: "user-1", SenderType: "user", SenderName: "Ann"}}
	if !equal(m, want) {
		t.Errorf("request.parties: got %+v\nwant %+v", m, want)
	}

	m, err = Decode(readAdapter(t, "party-removed.msgpack"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Event.Category != mapper.CategoryRemoved || m.Event.Attendee != "CAe1889084a107d447398c45f7ab8f7aa2" || m.Event.SenderID != "boss" {
		t.Errorf("party.removed: got %+v", m.Event)
	}

	m, err = Decode(readAdapter(t, "chat-message.msgpack"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "CHAT" || len(m.Rooms) != 0 || m.Event.Category != "" {
		t.Errorf("chat message: got %+v", m)
	}
}

func equal(a, b Message) bool {
	return reflect.DeepEqual(a, b)
}

// TestEncodeDecode: what the bridge publishes reads back as the contract's broadcast.
func TestEncodeDecode(t *testing.T) {
	ev := mapper.Online(mapper.Party{CallSID: "CA1", TopicID: "T1", DisplayName: "Ann"}, "id-1")
	b, err := Encode("dialin-x", "/chat", "room:T1", ev)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Message{UID: "dialin-x", Type: 2, Nsp: "/chat", Name: EventName, Rooms: []string{"room:T1"},
		Event: Event{ID: "id-1", Category: mapper.CategoryOnline, TopicID: "T1", SenderID: "CA1", SenderType: "phone", SenderName: "Ann"}}
	if !equal(m, want) {
		t.Errorf("got %+v\nwant %+v", m, want)
	}
	if bytes.Contains(b, []byte("Version")) {
		t.Error("the event's internal version was published")
	}
}

// TestDecodeRefuses: hostile headers are refused before anything is allocated for them.
func TestDecodeRefuses(t *testing.T) {
	deep := bytes.Repeat([]byte{0x91}, 40)
	deep = append(deep, 0xc0)
	cases := map[string][]byte{
		"empty":               {},
		"not an array":        {0xa1, 'x'},
		"array32 of 4G":       {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0},
		"map32 of 4G":         {0x93, 0xa1, 'u', 0xdf, 0xff, 0xff, 0xff, 0xff},
		"str32 of 4G":         {0x93, 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'},
		"bin32 of 4G":         {0x93, 0xc6, 0xff, 0xff, 0xff, 0xff},
		"ext32 of 4G":         {0x93, 0xc9, 0x7f, 0xff, 0xff, 0xff, 0x01},
		"truncated str":       {0x93, 0xa5, 'a', 'b'},
		"nested 40 deep":      deep,
		"never used 0xc1":     {0xc1},
		"trailing bytes":      append(readAdapter(t, "request-parties.msgpack"), 0xc0),
		"too large":           append([]byte{0xdb, 0x00, 0x01, 0x00, 0x01}, make([]byte, MaxMessage)...),
		"two-element message": {0x92, 0xa1, 'u', 0x80},
		"uid not a string":    {0x93, 0x01, 0x80, 0x80},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode(b); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Decode = %v; want ErrMalformed or ErrTooLarge", err)
			}
		})
	}
}

// TestDecodeAllocation: a message that declares far more than it holds costs no more memory
// than its own size allows.
func TestDecodeAllocation(t *testing.T) {
	msgs := [][]byte{
		{0x93, 0xa1, 'u', 0x81, 0xa4, 'd', 'a', 't', 'a', 0xdd, 0x00, 0xff, 0xff, 0xff},
		{0x93, 0xa1, 'u', 0x80, 0x81, 0xa5, 'r', 'o', 'o', 'm', 's', 0xdd, 0x00, 0x0f, 0xff, 0xff},
		{0x93, 0xa1, 'u', 0x80, 0x81, 0xa5, 'r', 'o', 'o', 'm', 's', 0x91, 0xdb, 0x00, 0x0f, 0xff, 0xff},
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 100; i++ {
		for _, b := range msgs {
			Decode(b)
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("300 decodes of lying 16-byte headers allocated %d bytes", got)
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"request-parties.msgpack", "party-removed.msgpack", "chat-message.msgpack"} {
		f.Add(readAdapter(f, name))
	}
	ev := mapper.Leaves(mapper.Party{CallSID: "CA1", TopicID: "T1"}, "id")
	b, _ := Encode("dialin-x", "/chat", "T1", ev)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		if len(m.Rooms) > maxRooms {
			t.Fatalf("%d rooms", len(m.Rooms))
		}
		if n := len(m.UID) + len(m.Nsp) + len(m.Name) + len(m.Event.ID) + len(m.Event.Category) + len(m.Event.TopicID) +
			len(m.Event.SenderID) + len(m.Event.SenderType) + len(m.Event.Attendee); n > len(b) {
			t.Fatalf("decoded %d bytes of strings from a %d-byte message", n, len(b))
		}
	})
}

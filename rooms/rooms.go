// Package rooms reads the operator's rooms file: the topics calls can be routed to (by SIP
// header, dialled number or PIN) and the directory of known callers.
package rooms

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// Topic is one topic calls can join.
type Topic struct {
	ID      string   `json:"topicId"`
	PIN     string   `json:"pin,omitempty"`
	Numbers []string `json:"numbers,omitempty"`
	// Name is spoken to routed callers ("Welcome to <name>."); empty for no greeting.
	Name string `json:"name,omitempty"`
	// Lobby holds routed callers until an admin admits them.
	Lobby bool `json:"lobby,omitempty"`
	// RollCall tells a caller who is in the room before joining.
	RollCall bool `json:"rollCall,omitempty"`
}

// MaxName is the longest topic name, in characters.
const MaxName = 100

// Caller is a directory entry: a known number and how the room shows its caller.
type Caller struct {
	Number      string `json:"number"`
	Username    string `json:"username,omitempty"`
	DisplayName string `json:"displayname,omitempty"`
	PictureURL  string `json:"picture_url,omitempty"`
	Role        string `json:"role,omitempty"`
}

// File is the rooms file as written.
type File struct {
	Topics  []Topic  `json:"topics"`
	Callers []Caller `json:"callers"`
}

// Rooms is a validated rooms file, indexed for lookups. It is immutable; a reload builds a new
// one.
type Rooms struct {
	topics   map[string]Topic
	byNumber map[string]string // dialled number → topic id
	byPIN    map[string]string // PIN → topic id
	callers  map[string]Caller // caller number → entry
	order    []string          // topic ids in the file's order
}

// ErrInvalid marks a rooms file that is malformed or inconsistent.
var ErrInvalid = errors.New("invalid rooms file")

// Empty is a Rooms with no topics and no callers.
func Empty() *Rooms {
	r, _ := Build(File{})
	return r
}

// Load reads and validates the rooms file at path.
func Load(path string) (*Rooms, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read rooms file: %w", err)
	}
	return Parse(b)
}

// Parse decodes and validates a rooms file. Unknown fields are errors.
func Parse(b []byte) (*Rooms, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalid)
	}
	return Build(f)
}

var roles = map[string]bool{"": true, "admin": true, "member": true, "guest": true}

// Build validates f and indexes it.
func Build(f File) (*Rooms, error) {
	r := &Rooms{
		topics:   make(map[string]Topic),
		byNumber: make(map[string]string),
		byPIN:    make(map[string]string),
		callers:  make(map[string]Caller),
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	for i, t := range f.Topics {
		switch {
		case strings.TrimSpace(t.ID) == "":
			bad("topics[%d]: topicId is empty", i)
			continue
		case r.topics[t.ID].ID != "":
			bad("topics[%d]: topicId %q appears twice", i, t.ID)
			continue
		}
		if n := utf8.RuneCountInString(t.Name); n > MaxName {
			bad("topic %q: name is %d characters, more than %d", t.ID, n, MaxName)
		} else if !printable(t.Name) {
			bad("topic %q: name holds control characters or invalid UTF-8", t.ID)
		}
		r.topics[t.ID] = t
		r.order = append(r.order, t.ID)
		if t.PIN != "" {
			if strings.Trim(t.PIN, "0123456789") != "" {
				bad("topic %q: pin must be digits", t.ID)
			} else if other, dup := r.byPIN[t.PIN]; dup {
				bad("topic %q: pin is also topic %q's", t.ID, other)
			} else {
				r.byPIN[t.PIN] = t.ID
			}
		}
		for _, n := range t.Numbers {
			if !mapper.IsE164(n) {
				bad("topic %q: number %q is not E.164", t.ID, mapper.Mask(n))
			} else if other, dup := r.byNumber[n]; dup {
				bad("topic %q: number %s is also topic %q's", t.ID, mapper.Mask(n), other)
			} else {
				r.byNumber[n] = t.ID
			}
		}
	}
	for i, c := range f.Callers {
		switch {
		case !mapper.IsE164(c.Number):
			bad("callers[%d]: number is not E.164", i)
		case r.callers[c.Number].Number != "":
			bad("callers[%d]: number %s appears twice", i, mapper.Mask(c.Number))
		case !roles[c.Role]:
			bad("callers[%d]: role %q is not admin, member or guest", i, c.Role)
		default:
			r.callers[c.Number] = c
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return r, nil
}

// Topics returns every topic, in the file's order.
func (r *Rooms) Topics() []Topic {
	out := make([]Topic, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, r.topics[id])
	}
	return out
}

// Topic returns the topic with id.
func (r *Rooms) Topic(id string) (Topic, bool) {
	t, ok := r.topics[id]
	return t, ok
}

// ByNumber returns the topic the dialled number belongs to.
func (r *Rooms) ByNumber(to string) (Topic, bool) {
	return r.Topic(r.byNumber[strings.TrimSpace(to)])
}

// ByPIN returns the topic whose PIN is pin.
func (r *Rooms) ByPIN(pin string) (Topic, bool) {
	if pin == "" {
		return Topic{}, false
	}
	return r.Topic(r.byPIN[pin])
}

// Caller returns the directory entry of a caller's number.
func (r *Rooms) Caller(number string) (Caller, bool) {
	c, ok := r.callers[strings.TrimSpace(number)]
	return c, ok
}

// HasPINs reports whether any topic can be reached by PIN.
func (r *Rooms) HasPINs() bool { return len(r.byPIN) > 0 }

// Len reports how many topics and callers there are.
func (r *Rooms) Len() (topics, callers int) { return len(r.topics), len(r.callers) }

// printable reports whether s is valid UTF-8 without control characters: a name that is
// spoken to callers and shown in pages.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

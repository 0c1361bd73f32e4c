package roster

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// step is one callback applied to a call in a scenario, and what it must come to.
type step struct {
	op       string // admit, join, mute, unmute, hold, unhold, leave, end (call status), confend
	sid      string // CA1 by default
	seq      int64
	conf     string // conference SID, CF1 by default
	fallback bool   // the participant callback names unknown calls with the fallback identity
	want     Emit   // the event owed
	// The call as stored after the step: its state ("" when not stored at all) and media
	// state. An emitted event shows the same.
	state       State
	muted, held bool
	name        string // the caller's display name; admitName when empty
}

func yes() *bool { b := true; return &b }

func no() *bool { b := false; return &b }

// clock is a roster clock that moves one second per reading.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) read() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

var t0 = time.Date(2024, 5, 6, 12, 0, 0, 0, time.UTC)

// newRoster returns a roster on a fresh store of the kind named, with a clock of its own.
func newRoster(t *testing.T, kind string) (*Roster, *clock) {
	t.Helper()
	var s Store
	switch kind {
	case "memory":
		s = NewMemory()
	case "bolt":
		s = openTestBolt(t, t.TempDir())
	case "redis":
		s = newTestRedis(t, "test:"+uuid.NewString()+":")
	default:
		t.Fatalf("unknown store %q", kind)
	}
	r := New(s)
	c := &clock{now: t0}
	r.now = c.read
	return r, c
}

// recorder keeps the changes that owe an event, from any number of goroutines.
type recorder struct {
	mu  sync.Mutex
	got []Change
}

// add keeps ch if it owes an event, and returns err.
func (rec *recorder) add(ch Change, err error) error {
	return rec.addAll([]Change{ch}, err)
}

func (rec *recorder) addAll(chs []Change, err error) error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, ch := range chs {
		if ch.Emit != EmitNone {
			rec.got = append(rec.got, ch)
		}
	}
	return err
}

// byCall returns the events each call owes, in the order of the changes' versions: the
// order in which they were stored, whatever order the goroutines returned them in.
func (rec *recorder) byCall() map[string][]Emit {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	got := append([]Change(nil), rec.got...)
	sort.Slice(got, func(i, j int) bool { return got[i].Call.Version < got[j].Call.Version })
	out := map[string][]Emit{}
	for _, ch := range got {
		out[ch.Call.CallSID] = append(out[ch.Call.CallSID], ch.Emit)
	}
	return out
}

// apply runs one step and returns the changes it made that owe an event.
func apply(t *testing.T, r *Roster, s step) []Change {
	t.Helper()
	ctx := context.Background()
	sid := or(s.sid, "CA1")
	conf := or(s.conf, "CF1")
	p := Participant{ConferenceSID: conf, TopicID: "A", Seq: s.seq}
	var fb Namer
	if s.fallback {
		fb = func(context.Context, string, string) *Identity {
			return &Identity{DisplayName: fallbackName, Masked: "+1 ••• 0100"}
		}
	}
	var (
		returned []Change
		err      error
	)
	one := func(ch Change, e error) {
		err = e
		if ch.Emit != EmitNone {
			returned = append(returned, ch)
		}
	}
	switch s.op {
	case "admit":
		_, err = r.Admit(ctx, sid, "A", Identity{DisplayName: admitName, Role: "member"})
	case "join":
		p.Muted, p.OnHold = no(), no()
		one(r.Participant(ctx, sid, p, fb))
	case "mute", "unmute":
		p.Muted = map[bool]*bool{true: yes(), false: no()}[s.op == "mute"]
		one(r.Participant(ctx, sid, p, fb))
	case "hold", "unhold":
		p.OnHold = map[bool]*bool{true: yes(), false: no()}[s.op == "hold"]
		one(r.Participant(ctx, sid, p, fb))
	case "leave":
		p.Leave = true
		one(r.Participant(ctx, sid, p, fb))
	case "end":
		one(r.CallEnded(ctx, sid, s.seq, "completed"))
	case "confend":
		returned, err = r.ConferenceEnd(ctx, "A", conf, s.seq)
	default:
		t.Fatalf("unknown op %q", s.op)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", s.op, sid, err)
	}
	return returned
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// storeKinds are the stores the state machine's scenarios run on.
var storeKinds = []string{"memory", "bolt", "redis"}

// scenario is a sequence of callbacks applied to a fresh roster, step by step.
type scenario struct {
	name  string
	steps []step
}

// checkStep applies s and checks the event it emitted and the call it left.
func checkStep(t *testing.T, r *Roster, i int, s step) {
	t.Helper()
	got := apply(t, r, s)
	where := fmt.Sprintf("step %d (%s seq %d %s)", i, s.op, s.seq, or(s.conf, "CF1"))
	sid := or(s.sid, "CA1")
	stored, found, err := r.Get(context.Background(), sid)
	if err != nil {
		t.Fatalf("%s: get: %v", where, err)
	}
	switch {
	case s.state == "" && found:
		t.Fatalf("%s: stored %+v; want nothing stored", where, stored)
	case s.state != "" && !found:
		t.Fatalf("%s: nothing stored; want a call %s", where, s.state)
	case found && (stored.State != s.state || stored.Muted != s.muted || stored.OnHold != s.held):
		t.Fatalf("%s: stored %s muted %v held %v; want %s muted %v held %v",
			where, stored.State, stored.Muted, stored.OnHold, s.state, s.muted, s.held)
	}
	name := or(s.name, admitName)
	if name == "-" {
		name = ""
	}
	if found && stored.DisplayName != name {
		t.Fatalf("%s: caller named %q; want %q", where, stored.DisplayName, name)
	}
	if s.want == EmitNone {
		if len(got) != 0 {
			t.Fatalf("%s: emitted %v; want nothing", where, got[0].Emit)
		}
		return
	}
	if len(got) != 1 {
		t.Fatalf("%s: emitted %d events; want one %v", where, len(got), s.want)
	}
	if got[0].Emit != s.want {
		t.Fatalf("%s: emitted %v; want %v", where, got[0].Emit, s.want)
	}
	// The event is built from the change: it must be the call exactly as stored.
	if !reflect.DeepEqual(got[0].Call, stored) {
		t.Fatalf("%s: emitted change\n %+v\ndiffers from the stored call\n %+v", where, got[0].Call, stored)
	}
	if got[0].Call.CallSID != sid || got[0].Call.TopicID != "A" {
		t.Fatalf("%s: emitted for call %q topic %q", where, got[0].Call.CallSID, got[0].Call.TopicID)
	}
}

func assertStored(t *testing.T, r *Roster, want Call) {
	t.Helper()
	got, found, err := r.Get(context.Background(), want.CallSID)
	if !found || err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("stored %+v (found %v, err %v); want %+v", got, found, err, want)
	}
}

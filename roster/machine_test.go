package roster

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The names the tests give callers: the identity the incoming-call webhook admits with, and
// the fallback identity of a call the roster never saw.
const (
	admitName    = "Jane Caller"
	fallbackName = "Phone caller"
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
func no() *bool  { b := false; return &b }

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
	var fb *Identity
	if s.fallback {
		fb = &Identity{DisplayName: fallbackName, Masked: "+1 ••• 0100"}
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
		one(r.CallEnded(ctx, sid, s.seq))
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

// TestMachine: one row per sequence of Twilio callbacks, with the event each step owes and
// the call it leaves. Every scenario runs on every store.
func TestMachine(t *testing.T) {
	none := EmitNone
	online, leaves := EmitOnline, EmitLeaves
	tests := []scenario{
		{"admit stores a routing call and emits nothing", []step{
			{op: "admit", want: none, state: Routing}}},
		{"join goes online", []step{
			{op: "admit", state: Routing},
			{op: "join", seq: 1, want: online, state: Online}}},
		{"duplicate join (same seq) emits nothing", []step{
			{op: "admit", state: Routing},
			{op: "join", seq: 1, want: online, state: Online},
			{op: "join", seq: 1, want: none, state: Online}}},
		{"mute with a higher seq shows muted", []step{
			{op: "admit", state: Routing},
			{op: "join", seq: 1, want: online, state: Online},
			{op: "mute", seq: 2, want: online, state: Online, muted: true},
			{op: "mute", seq: 2, want: none, state: Online, muted: true},
			{op: "unmute", seq: 3, want: online, state: Online}}},
		{"hold and unhold show in audio", []step{
			{op: "admit", state: Routing},
			{op: "join", seq: 1, want: online, state: Online},
			{op: "hold", seq: 2, want: online, state: Online, held: true},
			{op: "unhold", seq: 3, want: online, state: Online}}},
		{"a newer callback that changes nothing emits nothing", []step{
			{op: "admit", state: Routing},
			{op: "join", seq: 1, want: online, state: Online},
			{op: "unmute", seq: 2, want: none, state: Online},
			{op: "join", seq: 3, want: none, state: Online}}},
		{"older seq after newer changes nothing", []step{
			{op: "admit", state: Routing},
			{op: "join", seq: 1, want: online, state: Online},
			{op: "mute", seq: 3, want: online, state: Online, muted: true},
			{op: "unmute", seq: 2, want: none, state: Online, muted: true},
			{op: "hold", seq: 1, want: none, state: Online, muted: true}}},
		{"leave", []step{
			{op: "admit", state: Routing},
			{op: "join", seq: 1, want: online, state: Online},
			{op: "leave", seq: 2, want: leaves, state: Ended}}},
		{"leave keeps the last media state", []step{
			{op: "admit", state: Routing},
			{op: "join", seq: 1, want: online, state: Online},
			{op: "mute", seq: 2, want: online, state: Online, muted: true},
			{op: "leave", seq: 3, want: leaves, state: Ended, muted: true}}},
		{"duplicate leave emits nothing", []step{
			{op: "admit", state: Routing},
			{op: "join", seq: 1, want: online, state: Online},
			{op: "leave", seq: 2, want: leaves, state: Ended},
			{op: "leave", seq: 2, want: none, state: Ended},
			{op: "leave", seq: 3, want: none, state: Ended}}},
		{"nothing after the leaves", []step{
			{op: "admit", state: Routing},
			{op: "join", seq: 1, want: online, state: Online},
			{op: "leave", seq: 3, want: leaves, state: Ended},
			{op: "mute", seq: 2, want: none, state: Ended}, // late, older
			{op: "mute", seq: 4, want: none, state: Ended}, // late, newer
			{op: "join", seq: 9, want: none, state: Ended},
			{op: "join", seq: 1, conf: "CF2", want: none, state: Ended},
			{op: "end", seq: 1, want: none, state: Ended},
			{op: "confend", seq: 10, want: none, state: Ended},
			{op: "admit", want: none, state: Ended}}},
		{"call ended before joining, then a late join", []step{
			{op: "admit", state: Routing},
			{op: "end", seq: 1, want: none, state: Ended},
			{op: "join", seq: 1, want: none, state: Ended},
			{op: "join", seq: 1, fallback: true, want: none, state: Ended}}},
		{"leave before join (out of order)", []step{
			{op: "admit", state: Routing},
			{op: "leave", seq: 2, want: none, state: Ended},
			{op: "join", seq: 1, want: none, state: Ended}}},
		{"call status ends an online call, then participant-leave", []step{
			{op: "admit", state: Routing},
			{op: "join", seq: 1, want: online, state: Online},
			{op: "end", seq: 1, want: leaves, state: Ended},
			{op: "leave", seq: 2, want: none, state: Ended},
			{op: "end", seq: 1, want: none, state: Ended},
			{op: "end", seq: 2, want: none, state: Ended}}},
		{"mute before join (out of order)", []step{
			{op: "admit", state: Routing},
			{op: "mute", seq: 3, want: online, state: Online, muted: true},
			{op: "join", seq: 2, want: none, state: Online, muted: true}}},
		{"new ConferenceSid resets the sequence", []step{
			{op: "admit", state: Routing},
			{op: "join", seq: 9, want: online, state: Online},
			{op: "mute", seq: 1, conf: "CF2", want: online, state: Online, muted: true},
			{op: "mute", seq: 1, conf: "CF2", want: none, state: Online, muted: true},
			{op: "unmute", seq: 2, conf: "CF2", want: online, state: Online},
			{op: "leave", seq: 3, conf: "CF2", want: leaves, state: Ended}}},
		{"unknown call with no fallback is ignored", []step{
			{op: "join", seq: 1, want: none},
			{op: "mute", seq: 2, want: none},
			{op: "leave", seq: 3, want: none}}},
		{"unknown call with a fallback goes online as the fallback", []step{
			{op: "join", seq: 1, fallback: true, want: online, state: Online, name: fallbackName},
			{op: "join", seq: 1, fallback: true, want: none, state: Online, name: fallbackName},
			{op: "leave", seq: 2, want: leaves, state: Ended, name: fallbackName}}},
		{"a fallback does not rename a known call", []step{
			{op: "admit", state: Routing},
			{op: "join", seq: 1, fallback: true, want: online, state: Online}}},
		{"unknown call whose first callback is a leave", []step{
			{op: "leave", seq: 2, fallback: true, want: none, state: Ended, name: fallbackName},
			{op: "join", seq: 1, fallback: true, want: none, state: Ended, name: fallbackName}}},
		{"call status for a call never seen keeps it ended", []step{
			{op: "end", seq: 0, want: none, state: Ended, name: "-"},
			{op: "join", seq: 1, fallback: true, want: none, state: Ended, name: "-"}}},
		{"conference end", []step{
			{op: "admit", state: Routing},
			{op: "join", seq: 1, want: online, state: Online},
			{op: "confend", seq: 1, want: none, state: Online},              // not newer than the join
			{op: "confend", seq: 5, conf: "CF9", want: none, state: Online}, // another conference
			{op: "confend", seq: 5, want: leaves, state: Ended},
			{op: "confend", seq: 6, want: none, state: Ended},
			{op: "leave", seq: 7, want: none, state: Ended}}},
		{"conference end for a call still routing", []step{
			{op: "admit", state: Routing},
			{op: "confend", seq: 5, want: none, state: Routing}}},
		{"admit after online leaves it alone", []step{
			{op: "admit", state: Routing},
			{op: "join", seq: 1, want: online, state: Online},
			{op: "admit", want: none, state: Online}}},
	}
	tests = append(tests, conferenceScenarios...)
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					r, _ := newRoster(t, kind)
					for i, s := range tc.steps {
						checkStep(t, r, i, s)
					}
				})
			}
		})
	}
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

// TestVersion: every stored change counts one version, and the events of a call carry
// increasing versions, the first of them above zero (zero means unversioned to receivers).
func TestVersion(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		t.Run(fmt.Sprintf("fallback=%v", fallback), func(t *testing.T) {
			r, _ := newRoster(t, "memory")
			steps := []step{{op: "join", seq: 1, fallback: true}, {op: "mute", seq: 2}, {op: "join", seq: 2}, {op: "leave", seq: 3}}
			if !fallback {
				steps = append([]step{{op: "admit"}}, steps...)
				steps[1].fallback = false
			}
			var last int64
			for _, s := range steps {
				for _, ch := range apply(t, r, s) {
					if ch.Call.Version <= last {
						t.Errorf("%s: version %d after %d", s.op, ch.Call.Version, last)
					}
					last = ch.Call.Version
				}
			}
			c, _, _ := r.Get(context.Background(), "CA1")
			if c.Version != last {
				t.Errorf("stored version %d; last emitted %d", c.Version, last)
			}
		})
	}
}

// TestAdmit: the incoming-call webhook (and the PIN webhook after it) admit a call; only the
// first admit names it, and a call that joined or ended is left as it is.
func TestAdmit(t *testing.T) {
	ctx := context.Background()
	r, _ := newRoster(t, "memory")
	first := Identity{Username: "jsmith@fakeemail.com", DisplayName: "John Smith", Role: "member", Masked: "+1 ••• 0100"}
	c, err := r.Admit(ctx, "CA1", "", first) // IVR: no topic until the PIN
	if err != nil {
		t.Fatal(err)
	}
	if c.State != Routing || c.TopicID != "" || c.Identity != first || c.CallSID != "CA1" {
		t.Errorf("first admit returned %+v", c)
	}
	assertStored(t, r, c)

	c, err = r.Admit(ctx, "CA1", "T1", Identity{DisplayName: "Someone Else"})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != Routing || c.TopicID != "T1" || c.Identity != first {
		t.Errorf("second admit returned %+v; want topic T1 and the first identity", c)
	}
	assertStored(t, r, c)

	// A call admitted without a name gets one from a later admit.
	r.Admit(ctx, "CA2", "", Identity{})
	if c, _ := r.Admit(ctx, "CA2", "T1", first); c.Identity != first {
		t.Errorf("admit after a nameless admit: %+v", c.Identity)
	}

	apply(t, r, step{op: "join", seq: 1})
	before, _, _ := r.Get(ctx, "CA1")
	c, err = r.Admit(ctx, "CA1", "T2", Identity{DisplayName: "Someone Else"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, before) {
		t.Errorf("admit of an online call returned %+v; want it unchanged %+v", c, before)
	}
	assertStored(t, r, before)

	apply(t, r, step{op: "leave", seq: 2})
	before, _, _ = r.Get(ctx, "CA1")
	if c, _ = r.Admit(ctx, "CA1", "T2", first); !reflect.DeepEqual(c, before) || c.State != Ended {
		t.Errorf("admit of an ended call returned %+v; want it unchanged %+v", c, before)
	}
	assertStored(t, r, before)
}

func assertStored(t *testing.T, r *Roster, want Call) {
	t.Helper()
	got, found, err := r.Get(context.Background(), want.CallSID)
	if !found || err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("stored %+v (found %v, err %v); want %+v", got, found, err, want)
	}
}

// TestConferenceEnd: conference-end takes out every online call of that conference, once,
// and nothing else.
func TestConferenceEnd(t *testing.T) {
	ctx := context.Background()
	r, _ := newRoster(t, "memory")
	for _, s := range []step{
		{op: "admit", sid: "CA1"}, {op: "join", sid: "CA1", seq: 1},
		{op: "admit", sid: "CA2"}, {op: "join", sid: "CA2", seq: 2}, {op: "mute", sid: "CA2", seq: 3},
		{op: "admit", sid: "CA3"}, {op: "join", sid: "CA3", seq: 4}, {op: "leave", sid: "CA3", seq: 5}, // left already
		{op: "admit", sid: "CA4"}, {op: "join", sid: "CA4", seq: 1, conf: "CF2"}, // same topic, other conference
		{op: "admit", sid: "CA5"}, // still routing
	} {
		apply(t, r, s)
	}
	// CA6 is in another topic's conference.
	r.Admit(ctx, "CA6", "B", Identity{DisplayName: "x"})
	r.Participant(ctx, "CA6", Participant{ConferenceSID: "CF3", TopicID: "B", Seq: 1}, nil)
	before := map[string]Call{}
	for _, sid := range []string{"CA3", "CA4", "CA5", "CA6"} {
		before[sid], _, _ = r.Get(ctx, sid)
	}

	got := apply(t, r, step{op: "confend", seq: 6})
	left := map[string]int{}
	for _, c := range got {
		if c.Emit != EmitLeaves || c.Call.State != Ended || c.Call.TopicID != "A" {
			t.Errorf("%s: %v, %s in %s", c.Call.CallSID, c.Emit, c.Call.State, c.Call.TopicID)
		}
		left[c.Call.CallSID]++
	}
	if !reflect.DeepEqual(left, map[string]int{"CA1": 1, "CA2": 1}) {
		t.Errorf("conference-end emitted leaves for %v; want one each for CA1 and CA2", left)
	}
	for sid, c := range before {
		assertStored(t, r, c)
		_ = sid
	}
	if c, _, _ := r.Get(ctx, "CA2"); !c.Muted || c.State != Ended {
		t.Errorf("CA2 after conference-end: %+v", c)
	}

	if again := apply(t, r, step{op: "confend", seq: 7}); len(again) != 0 {
		t.Errorf("a second conference-end emitted %d events", len(again))
	}
	if parties, _ := r.Parties(ctx, "A"); len(parties) != 1 || parties[0].CallSID != "CA4" {
		t.Errorf("topic A's parties after conference-end: %v", sidList(parties))
	}
}

// TestChangesCarryTheirOrder: a join and a leave racing for one call are stored in some
// order, and the versions of the changes returned say which: online then leaves, or nothing,
// never leaves then online, whatever order the two callers got their answers in.
func TestChangesCarryTheirOrder(t *testing.T) {
	for _, kind := range []string{"memory", "bolt"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			r, _ := newRoster(t, kind)
			rec := &recorder{}
			const n = 200
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				sid := fmt.Sprintf("CA%03d", i)
				if _, err := r.Admit(ctx, sid, "A", Identity{DisplayName: "x"}); err != nil {
					t.Fatal(err)
				}
				for _, p := range []Participant{
					{ConferenceSID: "CF1", TopicID: "A", Seq: 1, Muted: no(), OnHold: no()},
					{ConferenceSID: "CF1", TopicID: "A", Seq: 2, Leave: true},
				} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if err := rec.add(r.Participant(ctx, sid, p, nil)); err != nil {
							t.Error(err)
						}
					}()
				}
			}
			wg.Wait()
			checkOnlineLeavesOrNothing(t, rec.byCall(), n)
			for i := 0; i < n; i++ {
				sid := fmt.Sprintf("CA%03d", i)
				if c, _, _ := r.Get(ctx, sid); c.State != Ended {
					t.Errorf("%s ends %s", sid, c.State)
				}
			}
		})
	}
}

// checkOnlineLeavesOrNothing checks that each of the calls CA000 to CA(n-1) emitted online
// then leaves, or nothing, and logs how often each came.
func checkOnlineLeavesOrNothing(t *testing.T, events map[string][]Emit, n int) {
	t.Helper()
	orders := map[string]int{}
	for i := 0; i < n; i++ {
		sid := fmt.Sprintf("CA%03d", i)
		got := fmt.Sprint(events[sid])
		orders[got]++
		if got != "[online leaves]" && got != "[]" {
			t.Errorf("%s emitted %s; want [online leaves] or nothing", sid, got)
		}
	}
	t.Logf("orders seen: %v", orders)
}

// TestExactlyOneLeaves: the same end delivered several times at once, by conference and by
// call status callbacks, emits one leaves.
func TestExactlyOneLeaves(t *testing.T) {
	ctx := context.Background()
	r, _ := newRoster(t, "memory")
	for i := 0; i < 100; i++ {
		sid := fmt.Sprintf("CA%03d", i)
		r.Admit(ctx, sid, "A", Identity{DisplayName: "x"})
		r.Participant(ctx, sid, Participant{ConferenceSID: "CF1", TopicID: "A", Seq: 1}, nil)
		rec := &recorder{}
		var wg sync.WaitGroup
		for j := 0; j < 6; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				switch j % 3 {
				case 0:
					err = rec.add(r.Participant(ctx, sid, Participant{ConferenceSID: "CF1", TopicID: "A", Seq: 2, Leave: true}, nil))
				case 1:
					err = rec.add(r.CallEnded(ctx, sid, 5))
				case 2:
					err = rec.add(r.Vanished(ctx, sid, t0.Add(time.Hour)))
				}
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if len(rec.got) != 1 || rec.got[0].Emit != EmitLeaves {
			t.Fatalf("%s: emitted %d events; want one leaves", sid, len(rec.got))
		}
	}
}

// TestReconcile: online calls Twilio no longer lists leave; listed calls stay; calls that went
// online after the listing began stay; routing calls are left alone; missed joins of the
// bridge's topics appear; ended calls never come back.
func TestReconcile(t *testing.T) {
	ctx := context.Background()
	r, clk := newRoster(t, "memory")
	for _, s := range []step{
		{op: "admit", sid: "CAgone"}, {op: "join", sid: "CAgone", seq: 1}, {op: "mute", sid: "CAgone", seq: 2},
		{op: "admit", sid: "CAstays"}, {op: "join", sid: "CAstays", seq: 3},
		{op: "admit", sid: "CAivr"}, // still routing, not a participant yet
		{op: "admit", sid: "CAmissed"},
		{op: "admit", sid: "CAended"}, {op: "join", sid: "CAended", seq: 4}, {op: "leave", sid: "CAended", seq: 5},
	} {
		apply(t, r, s)
	}
	r.Admit(ctx, "CAgoneB", "B", Identity{DisplayName: "x"}) // another topic: reconciled too
	r.Participant(ctx, "CAgoneB", Participant{ConferenceSID: "CF3", TopicID: "B", Seq: 1}, nil)
	untouched := map[string]Call{}
	for _, sid := range []string{"CAstays", "CAivr", "CAended"} {
		untouched[sid], _, _ = r.Get(ctx, sid)
	}

	listing := map[string]LiveCall{
		"CAstays":   {TopicID: "A", ConferenceSID: "CF1"},
		"CAmissed":  {TopicID: "A", ConferenceSID: "CF1", Muted: true},
		"CAended":   {TopicID: "A", ConferenceSID: "CF1"}, // Twilio lags behind the leave
		"CAstrange": {TopicID: "not-ours", ConferenceSID: "CF7"},
		"CAunseen":  {TopicID: "A", ConferenceSID: "CF1", OnHold: true},
	}
	list := func(context.Context) (map[string]LiveCall, error) {
		// CAfresh goes online while Twilio is being asked: the listing cannot show it.
		apply(t, r, step{op: "admit", sid: "CAfresh"})
		apply(t, r, step{op: "join", sid: "CAfresh", seq: 6})
		return listing, nil
	}
	fallback := func(topic string) *Identity {
		if topic != "A" {
			return nil
		}
		return &Identity{DisplayName: fallbackName}
	}
	rec := &recorder{}
	changes, _, err := r.Reconcile(ctx, list, fallback)
	rec.addAll(changes, nil)
	ended, joined := 0, 0
	for _, ch := range changes {
		if ch.Emit == EmitLeaves {
			ended++
		} else {
			joined++
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	emits := map[string][]Emit{}
	for _, ch := range rec.got {
		emits[ch.Call.CallSID] = append(emits[ch.Call.CallSID], ch.Emit)
		assertStored(t, r, ch.Call)
	}
	want := map[string][]Emit{
		"CAgone": {EmitLeaves}, "CAgoneB": {EmitLeaves},
		"CAmissed": {EmitOnline}, "CAunseen": {EmitOnline},
	}
	if !reflect.DeepEqual(emits, want) || ended != 2 || joined != 2 {
		t.Errorf("reconcile emitted %v (ended %d, joined %d); want %v (ended 2, joined 2)", emits, ended, joined, want)
	}
	for sid, c := range untouched {
		assertStored(t, r, c)
		_ = sid
	}
	if c, _, _ := r.Get(ctx, "CAgone"); c.State != Ended || !c.Muted {
		t.Errorf("CAgone: %+v; want ended with its last state", c)
	}
	if c, _, _ := r.Get(ctx, "CAfresh"); c.State != Online {
		t.Errorf("a call that went online during the listing is %s", c.State)
	}
	if c, _, _ := r.Get(ctx, "CAmissed"); c.State != Online || !c.Muted || c.OnHold || c.DisplayName != admitName || c.ConferenceSID != "CF1" {
		t.Errorf("missed join came back as %+v; want online, muted as listed, named as admitted", c)
	}
	if c, _, _ := r.Get(ctx, "CAunseen"); c.State != Online || !c.OnHold || c.DisplayName != fallbackName || c.TopicID != "A" {
		t.Errorf("unseen call came back as %+v; want online, held, named by the fallback", c)
	}
	if _, found, _ := r.Get(ctx, "CAstrange"); found {
		t.Error("a call of a conference that is not the bridge's was stored")
	}

	// The same listing again changes nothing.
	clk.set(clk.read().Add(time.Minute))
	listing["CAfresh"] = LiveCall{TopicID: "A", ConferenceSID: "CF1"}
	if again, _, err := r.Reconcile(ctx, func(context.Context) (map[string]LiveCall, error) { return listing, nil }, fallback); err != nil || len(again) != 0 {
		t.Errorf("second reconcile: err %v, changes %+v", err, again)
	}
}

// TestReconcileKeepsCallsJoinedDuringListing: with the clock frozen, a call whose online time
// is not before the start of the listing is kept, one a moment older is ended.
func TestReconcileKeepsCallsJoinedDuringListing(t *testing.T) {
	ctx := context.Background()
	r := New(NewMemory())
	now := t0
	r.now = func() time.Time { return now }
	apply(t, r, step{op: "admit", sid: "CAold"})
	apply(t, r, step{op: "join", sid: "CAold", seq: 1}) // online at t0
	now = t0.Add(time.Nanosecond)
	apply(t, r, step{op: "admit", sid: "CAsame"})
	apply(t, r, step{op: "join", sid: "CAsame", seq: 1}) // online at the listing's start
	rec := &recorder{}
	err := rec.addAll(r.reconcileOnly(ctx, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.got) != 1 || rec.got[0].Call.CallSID != "CAold" || rec.got[0].Emit != EmitLeaves {
		t.Errorf("emitted %+v; want one leaves for CAold", rec.got)
	}
	if c, _, _ := r.Get(ctx, "CAsame"); c.State != Online {
		t.Errorf("CAsame is %s; want online", c.State)
	}
}

// TestReconcileListError: a failed listing changes nothing and emits nothing.
func TestReconcileListError(t *testing.T) {
	ctx := context.Background()
	r, _ := newRoster(t, "memory")
	for _, s := range []step{
		{op: "admit", sid: "CA1"}, {op: "join", sid: "CA1", seq: 1},
		{op: "admit", sid: "CA2"},
		{op: "admit", sid: "CA3"}, {op: "join", sid: "CA3", seq: 1}, {op: "leave", sid: "CA3", seq: 2},
	} {
		apply(t, r, s)
	}
	before := snapshot(t, r, "CA1", "CA2", "CA3")
	boom := errors.New("twilio down")
	changes, _, err := r.Reconcile(ctx, func(context.Context) (map[string]LiveCall, error) {
		return map[string]LiveCall{"CA2": {TopicID: "A", ConferenceSID: "CF1"}}, boom
	}, func(string) *Identity { return &Identity{DisplayName: "x"} })
	if !errors.Is(err, boom) || len(changes) != 0 {
		t.Errorf("Reconcile = %+v, %v; want no change and the listing's error", changes, err)
	}
	if after := snapshot(t, r, "CA1", "CA2", "CA3"); !reflect.DeepEqual(before, after) {
		t.Errorf("a failed listing changed the roster:\n%+v\n%+v", before, after)
	}
}

func snapshot(t *testing.T, r *Roster, sids ...string) map[string]Call {
	t.Helper()
	out := map[string]Call{}
	for _, sid := range sids {
		c, found, err := r.Get(context.Background(), sid)
		if err != nil {
			t.Fatal(err)
		}
		if found {
			out[sid] = c
		}
	}
	return out
}

// TestSweep: the roster forgets tombstones older than TombstoneTTL and calls that never
// joined older than RoutingTTL, by its own clock; online calls stay however old.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"memory", "bolt"} {
		t.Run(kind, func(t *testing.T) {
			r, clk := newRoster(t, kind)
			apply(t, r, step{op: "admit", sid: "CAended"})
			apply(t, r, step{op: "join", sid: "CAended", seq: 1})
			apply(t, r, step{op: "leave", sid: "CAended", seq: 2})
			apply(t, r, step{op: "admit", sid: "CAonline"})
			apply(t, r, step{op: "join", sid: "CAonline", seq: 1})
			apply(t, r, step{op: "admit", sid: "CArouting"})

			clk.set(t0.Add(TombstoneTTL - time.Minute))
			if n, err := r.Sweep(ctx); n != 0 || err != nil {
				t.Errorf("sweep before the TTL: %d, %v", n, err)
			}
			// Within the TTL the tombstone still stops a late callback.
			if got := apply(t, r, step{op: "join", sid: "CAended", seq: 9, fallback: true}); len(got) != 0 {
				t.Errorf("late join of a tombstone emitted %v", got[0].Emit)
			}

			clk.set(t0.Add(TombstoneTTL + time.Minute))
			if n, err := r.Sweep(ctx); n != 1 || err != nil {
				t.Errorf("sweep after the tombstone TTL: %d, %v; want 1", n, err)
			}
			if _, found, _ := r.Get(ctx, "CAended"); found {
				t.Error("old tombstone survived the sweep")
			}
			clk.set(t0.Add(RoutingTTL + time.Minute))
			if n, err := r.Sweep(ctx); n != 1 || err != nil {
				t.Errorf("sweep after the routing TTL: %d, %v; want 1", n, err)
			}
			if _, found, _ := r.Get(ctx, "CArouting"); found {
				t.Error("a call that never joined survived RoutingTTL")
			}
			if c, found, _ := r.Get(ctx, "CAonline"); !found || c.State != Online {
				t.Error("an online call was swept")
			}
		})
	}
}

// TestParties: the phone parties of a topic are its online calls only.
func TestParties(t *testing.T) {
	ctx := context.Background()
	r, _ := newRoster(t, "memory")
	for _, s := range []step{
		{op: "admit", sid: "CA1"}, {op: "join", sid: "CA1", seq: 1},
		{op: "admit", sid: "CA2"},
		{op: "admit", sid: "CA3"}, {op: "join", sid: "CA3", seq: 1}, {op: "leave", sid: "CA3", seq: 2},
		{op: "admit", sid: "CA4"}, {op: "mute", sid: "CA4", seq: 3},
	} {
		apply(t, r, s)
	}
	parties, err := r.Parties(ctx, "A")
	if err != nil {
		t.Fatal(err)
	}
	assertSIDs(t, "Parties(A)", sidList(parties), "CA1", "CA4")
	if none, _ := r.Parties(ctx, "B"); len(none) != 0 {
		t.Errorf("Parties(B) = %v", sidList(none))
	}
}

// reconcileOnly is Reconcile without its listing, for tests that need the changes alone.
func (r *Roster) reconcileOnly(ctx context.Context, list ListFunc, fallback ...func(string) *Identity) ([]Change, error) {
	if list == nil {
		list = func(context.Context) (map[string]LiveCall, error) { return nil, nil }
	}
	fb := func(string) *Identity { return nil }
	if len(fallback) > 0 {
		fb = fallback[0]
	}
	changes, _, err := r.Reconcile(ctx, list, fb)
	return changes, err
}

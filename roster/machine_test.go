package roster

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// step is one callback applied to call "CA1" (or Sid) in a scenario.
type step struct {
	op       string // admit, join, mute, unmute, hold, unhold, leave, end (call status), confend
	seq      int64
	conf     string // conference SID, CF1 by default
	sid      string
	fallback bool
	want     Emit
	muted    bool // for online: the state the event shows
	held     bool
}

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

func apply(t *testing.T, r *Roster, s step) []Change {
	t.Helper()
	ctx := context.Background()
	sid := s.sid
	if sid == "" {
		sid = "CA1"
	}
	conf := s.conf
	if conf == "" {
		conf = "CF1"
	}
	var got []Change
	emit := func(ch Change) { got = append(got, ch) }
	p := Participant{ConferenceSID: conf, TopicID: "A", Seq: s.seq}
	var fb *Identity
	if s.fallback {
		fb = &Identity{DisplayName: "Phone caller"}
	}
	var err error
	switch s.op {
	case "admit":
		_, err = r.Admit(ctx, sid, "A", Identity{DisplayName: "Caller"})
	case "join":
		p.Muted, p.OnHold = no(), no()
		_, err = r.Participant(ctx, sid, p, fb, emit)
	case "mute", "unmute":
		p.Muted = map[bool]*bool{true: yes(), false: no()}[s.op == "mute"]
		_, err = r.Participant(ctx, sid, p, fb, emit)
	case "hold", "unhold":
		p.OnHold = map[bool]*bool{true: yes(), false: no()}[s.op == "hold"]
		_, err = r.Participant(ctx, sid, p, fb, emit)
	case "leave":
		p.Leave = true
		_, err = r.Participant(ctx, sid, p, fb, emit)
	case "end":
		_, err = r.CallEnded(ctx, sid, s.seq, emit)
	case "confend":
		_, err = r.ConferenceEnd(ctx, "A", conf, s.seq, emit)
	default:
		t.Fatalf("unknown op %q", s.op)
	}
	if err != nil {
		t.Fatalf("%s: %v", s.op, err)
	}
	return got
}

// TestMachine: one row per scenario of Twilio callbacks, with the event each step owes.
func TestMachine(t *testing.T) {
	none := EmitNone
	tests := []struct {
		name  string
		steps []step
	}{
		{"join, mute, unmute, hold, unhold, leave", []step{
			{op: "admit"}, {op: "join", seq: 1, want: EmitOnline},
			{op: "mute", seq: 2, want: EmitOnline, muted: true}, {op: "unmute", seq: 3, want: EmitOnline},
			{op: "hold", seq: 4, want: EmitOnline, held: true}, {op: "unhold", seq: 5, want: EmitOnline},
			{op: "leave", seq: 6, want: EmitLeaves}}},
		{"duplicate join", []step{{op: "admit"}, {op: "join", seq: 1, want: EmitOnline}, {op: "join", seq: 1, want: none}}},
		{"older after newer", []step{{op: "admit"}, {op: "join", seq: 1, want: EmitOnline},
			{op: "mute", seq: 3, want: EmitOnline, muted: true}, {op: "unmute", seq: 2, want: none}}},
		{"nothing after leave", []step{{op: "admit"}, {op: "join", seq: 1, want: EmitOnline}, {op: "leave", seq: 2, want: EmitLeaves},
			{op: "leave", seq: 2, want: none}, {op: "mute", seq: 3, want: none}, {op: "join", seq: 9, want: none},
			{op: "end", seq: 1, want: none}, {op: "confend", seq: 10, want: none}}},
		{"mute before join (out of order)", []step{{op: "admit"}, {op: "mute", seq: 3, want: EmitOnline, muted: true},
			{op: "join", seq: 2, want: none}}},
		{"status backstop", []step{{op: "admit"}, {op: "join", seq: 1, want: EmitOnline}, {op: "end", seq: 2, want: EmitLeaves},
			{op: "leave", seq: 2, want: none}}},
		{"ended before joining", []step{{op: "admit"}, {op: "end", seq: 1, want: none}, {op: "join", seq: 1, want: none}}},
		{"leave before join", []step{{op: "admit"}, {op: "leave", seq: 2, want: none}, {op: "join", seq: 1, want: none}}},
		{"status for a call never seen keeps it ended", []step{{op: "end", seq: 0, want: none},
			{op: "join", seq: 1, fallback: true, want: none}}},
		{"unknown call without fallback is ignored", []step{{op: "join", seq: 1, want: none}, {op: "mute", seq: 2, want: none}}},
		{"unknown call with fallback joins", []step{{op: "join", seq: 1, fallback: true, want: EmitOnline}}},
		{"new conference resets sequence", []step{{op: "admit"}, {op: "join", seq: 9, want: EmitOnline},
			{op: "mute", seq: 1, conf: "CF2", want: EmitOnline, muted: true}}},
		{"conference end", []step{{op: "admit"}, {op: "join", seq: 1, want: EmitOnline},
			{op: "confend", seq: 1, want: none},              // not newer than what was applied
			{op: "confend", seq: 5, conf: "CF9", want: none}, // another conference
			{op: "confend", seq: 5, want: EmitLeaves}, {op: "confend", seq: 6, want: none}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(NewMemory())
			for i, s := range tc.steps {
				got := apply(t, r, s)
				switch {
				case s.want == EmitNone && len(got) != 0:
					t.Fatalf("step %d %s seq %d: emitted %v; want nothing", i, s.op, s.seq, got[0].Emit)
				case s.want != EmitNone && len(got) != 1:
					t.Fatalf("step %d %s seq %d: emitted %d events; want one %v", i, s.op, s.seq, len(got), s.want)
				case s.want != EmitNone:
					c := got[0]
					if c.Emit != s.want || (s.want == EmitOnline && (c.Call.Muted != s.muted || c.Call.OnHold != s.held)) {
						t.Fatalf("step %d %s: %v muted %v held %v; want %v muted %v held %v", i, s.op, c.Emit, c.Call.Muted, c.Call.OnHold, s.want, s.muted, s.held)
					}
				}
			}
		})
	}
}

// TestConferenceEndAll: conference-end takes out every online call of that conference only.
func TestConferenceEndAll(t *testing.T) {
	r := New(NewMemory())
	for _, s := range []step{
		{op: "admit", sid: "CA1"}, {op: "join", sid: "CA1", seq: 1},
		{op: "admit", sid: "CA2"}, {op: "join", sid: "CA2", seq: 2},
		{op: "admit", sid: "CA3"}, {op: "join", sid: "CA3", seq: 3}, {op: "leave", sid: "CA3", seq: 4},
		{op: "admit", sid: "CA4"}, {op: "join", sid: "CA4", seq: 1, conf: "CF2"},
	} {
		apply(t, r, s)
	}
	got := apply(t, r, step{op: "confend", seq: 5})
	left := map[string]bool{}
	for _, c := range got {
		if c.Emit != EmitLeaves {
			t.Errorf("%s: %v", c.Call.CallSID, c.Emit)
		}
		left[c.Call.CallSID] = true
	}
	if len(left) != 2 || !left["CA1"] || !left["CA2"] {
		t.Errorf("conference-end left %v; want CA1 and CA2", left)
	}
}

// TestEmitOrder: a call's events are emitted in the order its changes were stored, even when
// its callbacks race: never an online after the leaves.
func TestEmitOrder(t *testing.T) {
	r := New(NewMemory())
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		sid := "CA" + string(rune('a'+i%26)) + time.Now().Format("150405.000000000")
		r.Admit(ctx, sid, "A", Identity{DisplayName: "x"})
		var mu sync.Mutex
		var order []Emit
		emit := func(ch Change) { mu.Lock(); order = append(order, ch.Emit); mu.Unlock() }
		var wg sync.WaitGroup
		for _, p := range []Participant{
			{ConferenceSID: "CF1", TopicID: "A", Seq: 1},
			{ConferenceSID: "CF1", TopicID: "A", Seq: 2, Muted: yes()},
			{ConferenceSID: "CF1", TopicID: "A", Seq: 3, Leave: true},
		} {
			wg.Add(1)
			go func() { defer wg.Done(); r.Participant(ctx, sid, p, nil, emit) }()
		}
		wg.Wait()
		leaves := 0
		for j, e := range order {
			if e == EmitLeaves {
				leaves++
				if j != len(order)-1 {
					t.Fatalf("events %v: something after the leaves", order)
				}
			}
		}
		if leaves > 1 {
			t.Fatalf("events %v: more than one leaves", order)
		}
	}
}

// TestReconcile: online calls Twilio no longer lists leave; listed calls stay; calls that
// joined after the listing began stay; missed joins of the bridge's topics appear; ended
// calls never come back; a failed listing changes nothing.
func TestReconcile(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	r := New(NewMemory())
	r.now = func() time.Time { return now }
	for _, s := range []step{
		{op: "admit", sid: "CAgone"}, {op: "join", sid: "CAgone", seq: 1},
		{op: "admit", sid: "CAstays"}, {op: "join", sid: "CAstays", seq: 2},
		{op: "admit", sid: "CAivr"}, // still routing: not a participant yet
		{op: "admit", sid: "CAmissed"},
		{op: "admit", sid: "CAended"}, {op: "join", sid: "CAended", seq: 3}, {op: "leave", sid: "CAended", seq: 4},
	} {
		apply(t, r, s)
	}
	// CAfresh goes online after the listing began: the listing cannot know it.
	listing := map[string]LiveCall{
		"CAstays":   {TopicID: "A", ConferenceSID: "CF1"},
		"CAmissed":  {TopicID: "A", ConferenceSID: "CF1", Muted: true},
		"CAended":   {TopicID: "A", ConferenceSID: "CF1"},
		"CAstrange": {TopicID: "not-ours", ConferenceSID: "CF7"},
		"CAunseen":  {TopicID: "A", ConferenceSID: "CF1"},
	}
	list := func(context.Context) (map[string]LiveCall, error) {
		now = now.Add(time.Second)
		apply(t, r, step{op: "admit", sid: "CAfresh"})
		apply(t, r, step{op: "join", sid: "CAfresh", seq: 5})
		return listing, nil
	}
	fallback := func(topic string) *Identity {
		if topic != "A" {
			return nil
		}
		return &Identity{DisplayName: "Phone caller"}
	}
	now = now.Add(time.Second)
	var got []Change
	ended, joined, err := r.Reconcile(ctx, list, fallback, func(ch Change) { got = append(got, ch) })
	if err != nil {
		t.Fatal(err)
	}
	emits := map[string]Emit{}
	for _, c := range got {
		emits[c.Call.CallSID] = c.Emit
	}
	want := map[string]Emit{"CAgone": EmitLeaves, "CAmissed": EmitOnline, "CAunseen": EmitOnline}
	if len(emits) != len(want) || ended != 1 || joined != 2 {
		t.Errorf("reconcile emitted %v (ended %d joined %d); want %v", emits, ended, joined, want)
	}
	for sid, e := range want {
		if emits[sid] != e {
			t.Errorf("%s: %v; want %v", sid, emits[sid], e)
		}
	}
	if c, _, _ := r.Get(ctx, "CAmissed"); !c.Muted || c.State != Online {
		t.Errorf("missed join came back as %+v; want online and muted as listed", c)
	}
	if c, _, _ := r.Get(ctx, "CAfresh"); c.State != Online {
		t.Errorf("a call that joined during the listing was ended")
	}
	if c, _, _ := r.Get(ctx, "CAivr"); c.State != Routing {
		t.Errorf("a routing call was touched: %+v", c)
	}

	// A failed listing changes nothing.
	before, _ := r.Store().Live(ctx)
	_, _, err = r.Reconcile(ctx, func(context.Context) (map[string]LiveCall, error) { return nil, errors.New("twilio down") },
		fallback, func(ch Change) { t.Errorf("emitted %v after a failed listing", ch) })
	after, _ := r.Store().Live(ctx)
	if err == nil || len(before) != len(after) {
		t.Errorf("failed listing: err %v, live %d → %d", err, len(before), len(after))
	}
}

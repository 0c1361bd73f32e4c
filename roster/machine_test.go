package roster

import (
	"context"
	"fmt"
	"reflect"
	"testing"
)

// The names the tests give callers: the identity the incoming-call webhook admits with, and
// the fallback identity of a call the roster never saw.
const (
	admitName    = "Jane Caller"
	fallbackName = "Phone caller"
)

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

package roster

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

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
	fallback := func(_ context.Context, _, topic string) *Identity {
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

// TestReconcileKeepsCallsChangedDuringListing: a call that Twilio does not list is ended
// only if the store held it online, unchanged, before the listing began; one whose state
// changed while Twilio was being asked is kept, whatever the clock says.
func TestReconcileKeepsCallsChangedDuringListing(t *testing.T) {
	ctx := context.Background()
	r := New(NewMemory())
	r.now = func() time.Time { return t0 } // a frozen clock: versions alone decide
	apply(t, r, step{op: "admit", sid: "CAold"})
	apply(t, r, step{op: "join", sid: "CAold", seq: 1})
	apply(t, r, step{op: "admit", sid: "CAmuted"})
	apply(t, r, step{op: "join", sid: "CAmuted", seq: 1})
	list := func(context.Context) (map[string]LiveCall, error) {
		apply(t, r, step{op: "mute", sid: "CAmuted", seq: 2})
		return nil, nil
	}
	rec := &recorder{}
	if err := rec.addAll(r.reconcileOnly(ctx, list)); err != nil {
		t.Fatal(err)
	}
	if len(rec.got) != 1 || rec.got[0].Call.CallSID != "CAold" || rec.got[0].Emit != EmitLeaves {
		t.Errorf("emitted %+v; want one leaves for CAold", rec.got)
	}
	if c, _, _ := r.Get(ctx, "CAmuted"); c.State != Online {
		t.Errorf("CAmuted is %s; want online", c.State)
	}
}

// onlineRoutingEnded leaves CA1 online, CA2 routing and CA3 ended.
var onlineRoutingEnded = []step{
	{op: "admit", sid: "CA1"}, {op: "join", sid: "CA1", seq: 1},
	{op: "admit", sid: "CA2"},
	{op: "admit", sid: "CA3"}, {op: "join", sid: "CA3", seq: 1}, {op: "leave", sid: "CA3", seq: 2},
}

// TestReconcileListError: a failed listing changes nothing and emits nothing.
func TestReconcileListError(t *testing.T) {
	ctx := context.Background()
	r, _ := newRoster(t, "memory")
	for _, s := range onlineRoutingEnded {
		apply(t, r, s)
	}
	before := snapshot(t, r, "CA1", "CA2", "CA3")
	boom := errors.New("twilio down")
	changes, _, err := r.Reconcile(ctx, func(context.Context) (map[string]LiveCall, error) {
		return map[string]LiveCall{"CA2": {TopicID: "A", ConferenceSID: "CF1"}}, boom
	}, func(context.Context, string, string) *Identity { return &Identity{DisplayName: "x"} })
	if !errors.Is(err, boom) || len(changes) != 0 {
		t.Errorf("Reconcile = %+v, %v; want no change and the listing's error", changes, err)
	}
	if after := snapshot(t, r, "CA1", "CA2", "CA3"); !reflect.DeepEqual(before, after) {
		t.Errorf("a failed listing changed the roster:\n%+v\n%+v", before, after)
	}
}

// TestReconcileAfterConferenceEnd: Twilio listed a routing call (its join callback lost) in
// a conference whose end was applied before the listing was: the call is not brought online
// in a conference that is over.
func TestReconcileAfterConferenceEnd(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			r, _ := newRoster(t, kind)
			if _, err := r.Admit(ctx, "CA1", "A", Identity{DisplayName: "x"}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.ConferenceEnd(ctx, "A", "CF1", 9); err != nil {
				t.Fatal(err)
			}
			changes, _, err := r.Reconcile(ctx, func(context.Context) (map[string]LiveCall, error) {
				return map[string]LiveCall{"CA1": {TopicID: "A", ConferenceSID: "CF1"}}, nil
			}, func(context.Context, string, string) *Identity { return &Identity{DisplayName: "x"} })
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range changes {
				if ch.Emit == EmitOnline {
					t.Errorf("the call was brought online in an ended conference: %+v", ch)
				}
			}
			if c, _, _ := r.Get(ctx, "CA1"); c.State == Online {
				t.Errorf("the call is online in an ended conference: %+v", c)
			}
		})
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
	for _, s := range append(onlineRoutingEnded, step{op: "admit", sid: "CA4"}, step{op: "mute", sid: "CA4", seq: 3}) {
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
func (r *Roster) reconcileOnly(ctx context.Context, list ListFunc, fallback ...Namer) ([]Change, error) {
	if list == nil {
		list = func(context.Context) (map[string]LiveCall, error) { return nil, nil }
	}
	fb := Namer(func(context.Context, string, string) *Identity { return nil })
	if len(fallback) > 0 {
		fb = fallback[0]
	}
	changes, _, err := r.Reconcile(ctx, list, fb)
	return changes, err
}

// TestNamerOnlyForUnknownCalls: the Namer (which may ask Twilio) is asked only about calls
// the store does not hold, by a participant callback and by reconciliation alike, and what
// it names is how the call is shown.
func TestNamerOnlyForUnknownCalls(t *testing.T) {
	ctx := context.Background()
	r, _ := newRoster(t, "memory")
	var asked []string
	name := func(_ context.Context, sid, topic string) *Identity {
		asked = append(asked, sid)
		return &Identity{DisplayName: "named " + sid}
	}
	if _, err := r.Admit(ctx, "CAknown", "A", Identity{DisplayName: "Known"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Admit(ctx, "CAlisted", "A", Identity{DisplayName: "Listed"}); err != nil {
		t.Fatal(err)
	}
	join := Participant{ConferenceSID: "CF1", TopicID: "A", Seq: 1}
	if ch, err := r.Participant(ctx, "CAknown", join, name); err != nil || ch.Call.DisplayName != "Known" {
		t.Fatalf("known call: %+v, %v", ch, err)
	}
	join.Seq = 2
	if ch, err := r.Participant(ctx, "CAnew", join, name); err != nil || ch.Emit != EmitOnline || ch.Call.DisplayName != "named CAnew" {
		t.Fatalf("unknown call: %+v, %v", ch, err)
	}
	// A callback too late for its conference changes nothing, and asks nothing.
	if _, err := r.ConferenceEnd(ctx, "A", "CF9", 10); err != nil {
		t.Fatal(err)
	}
	if ch, err := r.Participant(ctx, "CAlate", Participant{ConferenceSID: "CF9", TopicID: "A", Seq: 5}, name); err != nil || ch.Emit != EmitNone {
		t.Fatalf("late callback: %+v, %v", ch, err)
	}
	list := func(context.Context) (map[string]LiveCall, error) {
		return map[string]LiveCall{
			"CAknown":  {TopicID: "A", ConferenceSID: "CF1"},
			"CAnew":    {TopicID: "A", ConferenceSID: "CF1"},
			"CAlisted": {TopicID: "A", ConferenceSID: "CF1"},
			"CAmissed": {TopicID: "A", ConferenceSID: "CF1"},
		}, nil
	}
	changes, _, err := r.Reconcile(ctx, list, name)
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string]string{}
	for _, ch := range changes {
		shown[ch.Call.CallSID] = ch.Call.DisplayName
	}
	if want := map[string]string{"CAlisted": "Listed", "CAmissed": "named CAmissed"}; !reflect.DeepEqual(shown, want) {
		t.Errorf("reconciliation brought online %v; want %v", shown, want)
	}
	if want := []string{"CAnew", "CAmissed"}; !reflect.DeepEqual(asked, want) {
		t.Errorf("the Namer was asked about %v; want only %v, the calls the store did not hold", asked, want)
	}
}

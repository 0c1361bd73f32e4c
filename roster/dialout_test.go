package roster

import (
	"context"
	"errors"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

const dialTopic = "5a1339868509b80641a56655"

var ann = Identity{DisplayName: "Ann Lee", Masked: "+1 ••• 0199"}

// checker returns a function that fails t on an error and returns the change.
func checker(t *testing.T) func(Change, error) Change {
	return func(ch Change, err error) Change {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
}

func joinOf(seq int64) Participant {
	return Participant{ConferenceSID: "CF1", TopicID: dialTopic, Seq: seq, Muted: no(), OnHold: no()}
}

// TestDialOutOrder: a dial-out is shown ringing once both its REST answer (DialOut) and
// Twilio's ringing status have been applied, in either order, once; then connected at its
// join; a repeated or older status changes nothing; its end is the reason its status gives,
// with a leaves only if it was shown.
func TestDialOutOrder(t *testing.T) {
	for _, kind := range []string{"memory", "bolt", "redis"} {
		t.Run(kind, func(t *testing.T) {
			r, _ := newRoster(t, kind)
			ctx, must := context.Background(), checker(t)
			// The REST answer first.
			if ch := must(r.DialOut(ctx, "CA1", dialTopic, ann)); ch.Emit != EmitNone || ch.Call.State != Dialing {
				t.Errorf("stored dial-out: %v %s", ch.Emit, ch.Call.State)
			}
			if ch := must(r.Ringing(ctx, "CA1", 0)); ch.Emit != EmitOnline || ch.Call.DisplayName != "Ann Lee" {
				t.Errorf("initiated: %v %+v", ch.Emit, ch.Call)
			}
			if ch := must(r.Ringing(ctx, "CA1", 1)); ch.Emit != EmitNone {
				t.Errorf("ringing after initiated emitted %v", ch.Emit)
			}
			if ch := must(r.Ringing(ctx, "CA1", 1)); ch.Emit != EmitNone {
				t.Errorf("a repeated ringing emitted %v", ch.Emit)
			}
			if n, _ := r.Dialing(ctx, dialTopic); n != 1 {
				t.Errorf("Dialing = %d; want 1", n)
			}
			if ps, _ := r.Parties(ctx, dialTopic); len(ps) != 1 {
				t.Errorf("%d parties; want the ringing one", len(ps))
			}
			ch := must(r.Participant(ctx, "CA1", joinOf(1), nil))
			if ch.Emit != EmitOnline || ch.Call.State != Online || ch.Was != Dialing {
				t.Errorf("join: %v %s was %s", ch.Emit, ch.Call.State, ch.Was)
			}
			if n, _ := r.Dialing(ctx, dialTopic); n != 0 {
				t.Errorf("Dialing = %d after the join", n)
			}

			// Twilio's ringing first, then the REST answer: shown when the answer is stored.
			if ch := must(r.Ringing(ctx, "CA2", 1)); ch.Emit != EmitNone {
				t.Errorf("ringing of a call not stored yet emitted %v", ch.Emit)
			}
			if ch := must(r.Ringing(ctx, "CA2", 0)); ch.Emit != EmitNone {
				t.Errorf("an older status emitted %v", ch.Emit)
			}
			if ch := must(r.DialOut(ctx, "CA2", dialTopic, ann)); ch.Emit != EmitOnline || ch.Call.TopicID != dialTopic {
				t.Errorf("dial-out stored after its ringing: %v", ch.Emit)
			}
			ch = must(r.CallEnded(ctx, "CA2", 3, "busy"))
			if ch.Emit != EmitLeaves || ch.Call.Reason != mapper.ReasonBusy {
				t.Errorf("busy: %v reason %q", ch.Emit, ch.Call.Reason)
			}

			// Never shown (no ringing status came): its end owes nothing.
			must(r.DialOut(ctx, "CA3", dialTopic, ann))
			leave := Participant{ConferenceSID: "CF1", TopicID: dialTopic, Seq: 2, Leave: true, Reason: mapper.ReasonNoAnswer}
			if ch := must(r.Participant(ctx, "CA3", leave, nil)); ch.Emit != EmitNone || ch.Call.Reason != mapper.ReasonNoAnswer {
				t.Errorf("unshown no-answer: %v %q", ch.Emit, ch.Call.Reason)
			}
		})
	}
}

// TestDialOutNamelessJoin: a dial-out whose ringing callback overtook the bridge's record of
// whom it called, a record that then failed to be written, joins named (from Twilio's Calls
// resource, through the namer), not with an empty name.
func TestDialOutNamelessJoin(t *testing.T) {
	r, _ := newRoster(t, "memory")
	ctx, must := context.Background(), checker(t)
	if ch := must(r.Ringing(ctx, "CA1", 0)); ch.Emit != EmitNone {
		t.Fatalf("ringing of an unrecorded dial-out emitted %v", ch.Emit)
	}
	named := 0
	namer := func(context.Context, string, string) *Identity { named++; return &ann }
	ch := must(r.Participant(ctx, "CA1", joinOf(1), namer))
	if ch.Emit != EmitOnline || ch.Call.DisplayName != ann.DisplayName || named != 1 {
		t.Errorf("join: %v, shown as %q, named %d times; want online as %q", ch.Emit, ch.Call.DisplayName, named, ann.DisplayName)
	}
}

// TestLeaveReasonRules: a removal marks the call so its end says removed however it comes;
// a failed removal is taken back; reasons of a call that never connected apply only to a
// dial-out still dialing; reconciliation's end says lost.
func TestLeaveReasonRules(t *testing.T) {
	r, clk := newRoster(t, "memory")
	ctx, must := context.Background(), checker(t)
	online := func(sid string) {
		if _, err := r.Admit(ctx, sid, dialTopic, ann); err != nil {
			t.Fatal(err)
		}
		must(r.Participant(ctx, sid, joinOf(1), nil))
	}
	online("CA1")
	if _, first, err := r.Removing(ctx, "CA1", dialTopic); err != nil || !first {
		t.Fatalf("Removing: first %v, %v", first, err)
	}
	if _, first, _ := r.Removing(ctx, "CA1", dialTopic); first {
		t.Error("a second removal is first again")
	}
	// A mark older than RemovingFor is a removal whose end never came (its hang-up and the
	// taking back of its mark both failed): the next removal is first again.
	clk.set(clk.read().Add(RemovingFor))
	if _, first, _ := r.Removing(ctx, "CA1", dialTopic); !first {
		t.Error("a removal a minute after a mark that never ended the call is not first")
	}
	if _, first, _ := r.Removing(ctx, "CA1", dialTopic); first {
		t.Error("a removal just after the renewed mark is first again")
	}
	if ch := must(r.CallEnded(ctx, "CA1", 1, "completed")); ch.Call.Reason != mapper.ReasonRemoved {
		t.Errorf("removed call's reason %q", ch.Call.Reason)
	}
	if _, _, err := r.Removing(ctx, "CA1", dialTopic); !errors.Is(err, ErrNotParty) {
		t.Errorf("removing an ended call: %v", err)
	}
	online("CA2")
	if _, _, err := r.Removing(ctx, "CA2", "another-topic"); !errors.Is(err, ErrNotParty) {
		t.Errorf("removing from another topic: %v", err)
	}
	r.Removing(ctx, "CA2", dialTopic)
	if err := r.NotRemoving(ctx, "CA2"); err != nil {
		t.Fatal(err)
	}
	if ch := must(r.CallEnded(ctx, "CA2", 1, "failed")); ch.Call.Reason != mapper.ReasonHungUp {
		t.Errorf("a connected call that ends failed: %q; want hung_up", ch.Call.Reason)
	}
	online("CA3")
	ended := Participant{ConferenceSID: "CF1", TopicID: dialTopic, Seq: 5, Leave: true, Reason: mapper.ReasonConferenceEnded}
	if ch := must(r.Participant(ctx, "CA3", ended, nil)); ch.Call.Reason != mapper.ReasonConferenceEnded {
		t.Errorf("conference ended: %q", ch.Call.Reason)
	}
	online("CA4")
	c4, _, _ := r.Get(ctx, "CA4")
	if ch := must(r.Vanished(ctx, "CA4", c4.Version)); ch.Emit != EmitLeaves || ch.Call.Reason != mapper.ReasonLost {
		t.Errorf("vanished: %v %q", ch.Emit, ch.Call.Reason)
	}
}

// TestReconcileDialing: a dial-out whose end Twilio reported unseen is ended with the reason
// its status gives; one still ringing, one listed, or one too new is left alone; a failed
// look-up changes nothing.
func TestReconcileDialing(t *testing.T) {
	r, _ := newRoster(t, "memory")
	ctx, must := context.Background(), checker(t)
	for _, sid := range []string{"CA1", "CA2", "CA3", "CA4"} {
		must(r.DialOut(ctx, sid, dialTopic, ann))
		must(r.Ringing(ctx, sid, 0))
	}
	status := map[string]string{"CA1": "no-answer", "CA2": "ringing", "CA3": "busy", "CA4": "canceled"}
	asked := 0
	lookup := func(_ context.Context, sid string) (string, error) { asked++; return status[sid], nil }
	live := map[string]LiveCall{"CA3": {TopicID: dialTopic, ConferenceSID: "CF1", Ringing: true}}
	chs, err := r.ReconcileDialing(ctx, live, lookup, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, ch := range chs {
		got[ch.Call.CallSID] = ch.Call.Reason
		if ch.Emit != EmitLeaves {
			t.Errorf("%s: %v", ch.Call.CallSID, ch.Emit)
		}
	}
	if len(got) != 2 || got["CA1"] != mapper.ReasonNoAnswer || got["CA4"] != mapper.ReasonCanceled {
		t.Errorf("ended %v; want CA1 no_answer and CA4 canceled", got)
	}
	if asked != 3 {
		t.Errorf("asked Twilio about %d calls; want 3 (not the listed one)", asked)
	}
	failing := func(context.Context, string) (string, error) { return "", errors.New("twilio down") }
	if _, err := r.ReconcileDialing(ctx, nil, failing, 10); err == nil {
		t.Error("a failed look-up was not reported")
	}
	if n, _ := r.Dialing(ctx, dialTopic); n != 2 {
		t.Errorf("%d dialing after a failed look-up; want 2", n)
	}
	// At most max calls are looked up.
	asked = 0
	r.ReconcileDialing(ctx, nil, lookup, 1)
	if asked != 1 {
		t.Errorf("asked about %d calls with max 1", asked)
	}
}

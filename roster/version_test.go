package roster

import (
	"context"
	"testing"
)

// TestVersionAfterStoreLoss: a call that the store lost (a Redis restarted empty) and that
// reconciliation rebuilds gets versions above every version it had before, so that
// instances that delivered its old events do not drop its new ones as stale.
func TestVersionAfterStoreLoss(t *testing.T) {
	ctx := context.Background()
	r, clk := newRoster(t, "memory")
	const sid = "CA0001"
	if _, err := r.Admit(ctx, sid, "T1", Identity{DisplayName: "Ann"}); err != nil {
		t.Fatal(err)
	}
	var last int64
	for seq := int64(1); seq <= 5; seq++ { // join, then mute and unmute: several versions
		ch, err := r.Participant(ctx, sid, Participant{ConferenceSID: "CF1", TopicID: "T1", Seq: seq, Muted: boolp(seq%2 == 0)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		last = ch.Call.Version
	}

	// The store comes back empty; reconciliation finds the call still in its conference.
	rebuilt := New(NewMemory())
	rebuilt.now = clk.read
	var got recorder
	list := func(context.Context) (map[string]LiveCall, error) {
		return map[string]LiveCall{sid: {TopicID: "T1", ConferenceSID: "CF1"}}, nil
	}
	fallback := func(context.Context, string, string) *Identity { return &Identity{DisplayName: "Phone caller"} }
	if err := got.addAll(rebuilt.reconcileOnly(ctx, list, fallback)); err != nil {
		t.Fatal(err)
	}
	ch, err := rebuilt.Participant(ctx, sid, Participant{ConferenceSID: "CF1", TopicID: "T1", Seq: 6, Leave: true}, nil)
	got.add(ch, err)
	if err != nil {
		t.Fatal(err)
	}
	evs := got.got
	if len(evs) != 2 || evs[0].Emit != EmitOnline || evs[1].Emit != EmitLeaves || ch.Emit != EmitLeaves {
		t.Fatalf("after the rebuild: %+v; want online then leaves", evs)
	}
	for _, e := range evs {
		if e.Call.Version <= last {
			t.Errorf("%v of the rebuilt call has version %d, not above %d from before the loss: instances drop it as stale", e.Emit, e.Call.Version, last)
		}
	}
}

func boolp(b bool) *bool { return &b }

package roster

import (
	"context"
	"testing"
	"time"
)

// TestReconcileClockSkew: two instances share the store and their clocks disagree by a
// minute either way. A call that another instance brought online while Twilio was being
// listed stays online, however late that instance's clock; a call that was online before the
// listing and that Twilio no longer lists ends, however early that instance's clock.
func TestReconcileClockSkew(t *testing.T) {
	ctx := context.Background()
	for _, skew := range []time.Duration{-time.Minute, time.Minute} {
		t.Run(skew.String(), func(t *testing.T) {
			store := NewMemory()
			here := New(store) // the instance that reconciles, on the true clock
			here.now = func() time.Time { return t0 }
			other := New(store) // the instance that took the webhooks, its clock off by skew
			other.now = func() time.Time { return t0.Add(skew) }

			apply(t, other, step{op: "admit", sid: "CAgone"})
			apply(t, other, step{op: "join", sid: "CAgone", seq: 1})
			list := func(context.Context) (map[string]LiveCall, error) {
				// CAfresh joins through the other instance while Twilio is being asked: the
				// listing cannot show it.
				apply(t, other, step{op: "admit", sid: "CAfresh"})
				apply(t, other, step{op: "join", sid: "CAfresh", seq: 1})
				return map[string]LiveCall{}, nil
			}
			changes, _, err := here.Reconcile(ctx, list, nil)
			if err != nil {
				t.Fatal(err)
			}
			var ended []string
			for _, ch := range changes {
				if ch.Emit == EmitLeaves {
					ended = append(ended, ch.Call.CallSID)
				}
			}
			if len(ended) != 1 || ended[0] != "CAgone" {
				t.Errorf("reconciliation ended %v; want CAgone alone", ended)
			}
			if c, _, _ := here.Get(ctx, "CAfresh"); c.State != Online {
				t.Errorf("a call that joined during the listing is %s; want online", c.State)
			}
		})
	}
}

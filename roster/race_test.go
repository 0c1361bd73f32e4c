package roster

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

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
		joined, _ := r.Participant(ctx, sid, Participant{ConferenceSID: "CF1", TopicID: "A", Seq: 1}, nil)
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
					err = rec.add(r.CallEnded(ctx, sid, 5, "completed"))
				case 2:
					err = rec.add(r.Vanished(ctx, sid, joined.Call.Version))
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

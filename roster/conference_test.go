package roster

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// TestConferenceEndRacesJoins: joins older than their conference's end, delivered while the
// end is applied, leave no call online: each call shows online then leaves, or nothing.
func TestConferenceEndRacesJoins(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			r, _ := newRoster(t, kind)
			var (
				mu     sync.Mutex
				events = map[string][]Emit{}
			)
			emit := func(ch Change) {
				mu.Lock()
				events[ch.Call.CallSID] = append(events[ch.Call.CallSID], ch.Emit)
				mu.Unlock()
			}
			const n = 60
			for i := 0; i < n; i++ {
				if _, err := r.Admit(ctx, fmt.Sprintf("CA%03d", i), "A", Identity{DisplayName: "x"}); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := r.ConferenceEnd(ctx, "A", "CF1", n+1, emit); err != nil {
					t.Error(err)
				}
			}()
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p := Participant{ConferenceSID: "CF1", TopicID: "A", Seq: int64(i + 1), Muted: no(), OnHold: no()}
					if _, err := r.Participant(ctx, fmt.Sprintf("CA%03d", i), p, nil, emit); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			checkOnlineLeavesOrNothing(t, events, n)
			for i := 0; i < n; i++ {
				sid := fmt.Sprintf("CA%03d", i)
				if c, _, _ := r.Get(ctx, sid); c.State == Online {
					t.Errorf("%s is online after its conference ended", sid)
				}
			}
		})
	}
}

package roster

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// conferenceScenarios, run by TestMachine on every store: a conference's conference-end is
// part of that conference's sequence, so a participant callback of the same conference
// older than its end changes nothing, whenever it arrives; another conference of the topic
// is not affected.
var conferenceScenarios = []scenario{
	{"join older than the end, delivered after it", []step{
		{op: "admit", state: Routing},
		{op: "confend", seq: 5, want: EmitNone, state: Routing},
		{op: "join", seq: 3, want: EmitNone, state: Routing}}},
	{"mute older than the end, delivered after it", []step{
		{op: "admit", state: Routing},
		{op: "confend", seq: 5, want: EmitNone, state: Routing},
		{op: "mute", seq: 4, want: EmitNone, state: Routing},
		{op: "hold", seq: 2, want: EmitNone, state: Routing}}},
	{"join of a call never seen, older than the end", []step{
		{op: "confend", seq: 5, want: EmitNone},
		{op: "join", seq: 1, fallback: true, want: EmitNone}}},
	{"an older duplicate of the end does not shorten it", []step{
		{op: "admit", state: Routing},
		{op: "confend", seq: 9, want: EmitNone, state: Routing},
		{op: "confend", seq: 4, want: EmitNone, state: Routing},
		{op: "join", seq: 6, want: EmitNone, state: Routing}}},
	{"online call: the end leaves it, an older join does not bring it back", []step{
		{op: "admit", state: Routing},
		{op: "join", seq: 1, want: EmitOnline, state: Online},
		{op: "confend", seq: 5, want: EmitLeaves, state: Ended},
		{op: "join", seq: 2, want: EmitNone, state: Ended},
		{op: "unmute", seq: 3, want: EmitNone, state: Ended}}},
	{"the next conference of the topic is not affected", []step{
		{op: "admit", state: Routing},
		{op: "confend", seq: 5, want: EmitNone, state: Routing},
		{op: "join", seq: 1, conf: "CF2", want: EmitOnline, state: Online},
		{op: "mute", seq: 2, conf: "CF2", want: EmitOnline, state: Online, muted: true}}},
	{"the end of another conference does not hold back this one's join", []step{
		{op: "admit", state: Routing},
		{op: "confend", seq: 50, conf: "CF9", want: EmitNone, state: Routing},
		{op: "join", seq: 3, want: EmitOnline, state: Online}}},
}

// TestConferenceEndRacesJoins: joins older than their conference's end, delivered while the
// end is applied, leave no call online: each call shows online then leaves, or nothing.
func TestConferenceEndRacesJoins(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			r, _ := newRoster(t, kind)
			rec := &recorder{}
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
				if err := rec.addAll(r.ConferenceEnd(ctx, "A", "CF1", n+1)); err != nil {
					t.Error(err)
				}
			}()
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p := Participant{ConferenceSID: "CF1", TopicID: "A", Seq: int64(i + 1), Muted: no(), OnHold: no()}
					if err := rec.add(r.Participant(ctx, fmt.Sprintf("CA%03d", i), p, nil)); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			checkOnlineLeavesOrNothing(t, rec.byCall(), n)
			for i := 0; i < n; i++ {
				sid := fmt.Sprintf("CA%03d", i)
				if c, _, _ := r.Get(ctx, sid); c.State == Online {
					t.Errorf("%s is online after its conference ended", sid)
				}
			}
		})
	}
}

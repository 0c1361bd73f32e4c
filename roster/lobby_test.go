package roster

import (
	"context"
	"testing"
)

// TestLobby: a routed call waits, keeps its place on a repeat, and leaves the lobby once:
// admitted (then it joins as any call, and a denial comes too late), denied, timed out, or
// hung up; none of it owes an event, as a waiting call is not in the room. On every store.
func TestLobby(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			r, _ := newRoster(t, kind)
			id := Identity{DisplayName: "Ann"}
			must := func(ch Change, err error) Change {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				if ch.Emit != EmitNone {
					t.Errorf("%+v owes %v; a lobby change owes nothing", ch.Call, ch.Emit)
				}
				return ch
			}
			for _, sid := range []string{"CA1", "CA2", "CA3", "CA4"} {
				if _, err := r.Admit(ctx, sid, "T1", id); err != nil {
					t.Fatal(err)
				}
				if ch := must(r.Wait(ctx, sid, "T1", id)); ch.Was != Routing || ch.Call.State != Waiting {
					t.Fatalf("Wait %s: %+v", sid, ch)
				}
			}
			first := must(r.Wait(ctx, "CA1", "T1", id))
			again := must(r.Wait(ctx, "CA1", "T1", id))
			if again.Was != Waiting || !again.Call.Since.Equal(first.Call.Since) {
				t.Errorf("a repeated wait moved the caller: %+v then %+v", first.Call, again.Call)
			}
			if ch := must(r.Wait(ctx, "CA1", "T2", id)); ch.Call.TopicID != "T1" {
				t.Errorf("a wait in another topic moved the call: %+v", ch.Call)
			}
			if _, ok, err := r.Decide(ctx, "T2", "CA1", true); err != nil || ok {
				t.Errorf("admit from another topic: %v, %v", ok, err)
			}

			// Admitted: routing again, and its join brings it online.
			ch, ok, err := r.Decide(ctx, "T1", "CA1", true)
			if err != nil || !ok || ch.Call.State != Routing {
				t.Fatalf("admit: %+v %v %v", ch.Call, ok, err)
			}
			if _, ok, _ := r.Decide(ctx, "T1", "CA1", false); ok {
				t.Error("a denial after the admission took effect")
			}
			// The lobby's own redirect, crossing Twilio's move, finds the call admitted: it
			// stays routed, to join (it is not put back in the lobby).
			if ch := must(r.Wait(ctx, "CA1", "T1", id)); ch.Call.State != Routing {
				t.Errorf("a redirect after the admission put the call back in the lobby: %+v", ch.Call)
			}
			join, err := r.Participant(ctx, "CA1", Participant{ConferenceSID: "CF1", TopicID: "T1", Seq: 1}, nil)
			if err != nil || join.Emit != EmitOnline {
				t.Fatalf("join after admission: %+v %v", join, err)
			}

			// An admission Twilio refused is undone: waiting again, from when it began.
			if _, ok, _ := r.Decide(ctx, "T1", "CA2", true); !ok {
				t.Fatal("admit CA2")
			}
			back := must(r.Undecide(ctx, "CA2", first.Call.Since))
			if back.Call.State != Waiting {
				t.Errorf("undone admission: %+v", back.Call)
			}

			// Denied: ended, no leaves.
			if ch, ok, err := r.Decide(ctx, "T1", "CA2", false); err != nil || !ok || ch.Call.State != Ended || ch.Emit != EmitNone {
				t.Errorf("deny: %+v %v %v", ch, ok, err)
			}
			// Timed out: only a wait as old as the one timed out.
			c3, _, _ := r.Get(ctx, "CA3")
			if _, ok, _ := r.Expire(ctx, "CA3", c3.Since.Add(-1)); ok {
				t.Error("a wait that began later was timed out")
			}
			if ch, ok, err := r.Expire(ctx, "CA3", c3.Since); err != nil || !ok || ch.Call.State != Ended {
				t.Errorf("expire: %+v %v %v", ch.Call, ok, err)
			}
			// Hung up: its final status ends it without a leaves.
			if ch, err := r.CallEnded(ctx, "CA4", 1, "completed"); err != nil || ch.Was != Waiting || ch.Call.State != Ended || ch.Emit != EmitNone {
				t.Errorf("hang-up while waiting: %+v %v", ch, err)
			}
			waiting, err := r.store.Topic(ctx, "T1")
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range waiting {
				if c.State == Waiting {
					t.Errorf("still waiting: %+v", c)
				}
			}
		})
	}
}

package roster

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotParty marks an action on a call that is not a phone party of the topic now.
var ErrNotParty = errors.New("no such phone party in the topic")

// DialOut records a dial-out the bridge placed into topicID, as Twilio's answer named it,
// with the identity of the party called. The room is shown it ringing once Twilio says so
// (Ringing), which may have come first: then it is shown now. A call that joined before this
// is stored takes the identity (its join named it from Twilio's Calls resource, whose From is
// the bridge's own number) and is shown again; an ended one is left alone.
func (r *Roster) DialOut(ctx context.Context, sid, topicID string, id Identity) (Change, error) {
	ch, err := r.change(ctx, sid, func(c *Call, found bool) (bool, Emit) {
		switch {
		case !found:
			c.State, c.Since = Dialing, r.now()
		case c.State == Online && !c.DialOut && c.TopicID == topicID:
			c.Identity, c.DialOut = id, true
			return true, EmitOnline
		case c.State != Dialing:
			return false, EmitNone
		}
		c.TopicID, c.Identity, c.DialOut = topicID, id, true
		if c.Rang {
			return true, EmitOnline
		}
		return true, EmitNone
	})
	if err != nil {
		return Change{}, fmt.Errorf("store dial-out: %w", err)
	}
	return ch, nil
}

// Ringing applies a dial-out's call status initiated or ringing (seq numbers the call's own
// status callbacks). It shows the call ringing if the bridge has stored whom it called; if
// not (Twilio's callback overtook its REST answer), DialOut shows it when it does.
func (r *Roster) Ringing(ctx context.Context, sid string, seq int64) (Change, error) {
	ch, err := r.change(ctx, sid, func(c *Call, found bool) (bool, Emit) {
		if found && (c.State != Dialing || (c.CallSeen && seq <= c.CallSeq)) {
			return false, EmitNone
		}
		if !found {
			c.State, c.Since = Dialing, r.now()
		}
		c.CallSeq, c.CallSeen = seq, true
		if c.Rang {
			return true, EmitNone
		}
		c.Rang = true
		if Shown(*c) {
			return true, EmitOnline
		}
		return true, EmitNone
	})
	if err != nil {
		return Change{}, fmt.Errorf("apply ringing: %w", err)
	}
	return ch, nil
}

// RemovingFor is how long a removal's mark stands for the removal under way: an earlier
// removal's hang-up, asked of Twilio within it, may still end the call, so a removal asked for
// meanwhile makes no second hang-up. An older mark is a removal whose end never came (its
// hang-up failed, and so did taking its mark back): the next removal hangs up again. It is
// far above a removal's own bound, so that another instance's clock, a few seconds off, does
// not matter.
const RemovingFor = time.Minute

// Removing marks a phone party of topicID (online, or a dial-out ringing) as being removed
// by an admin, and returns it. first is false when an earlier removal marked it less than
// RemovingFor ago. ErrNotParty: no such party.
func (r *Roster) Removing(ctx context.Context, sid, topicID string) (c Call, first bool, err error) {
	known := false
	ch, err := r.change(ctx, sid, func(c *Call, found bool) (bool, Emit) {
		now := r.now()
		known = found && c.TopicID == topicID && (c.State == Online || (c.State == Dialing && c.DialOut))
		first = known && (!c.Removing || now.Sub(c.RemovingAt) >= RemovingFor)
		if !first {
			return false, EmitNone
		}
		c.Removing, c.RemovingAt = true, now
		return true, EmitNone
	})
	if err != nil {
		return Call{}, false, fmt.Errorf("mark removal: %w", err)
	}
	if !known {
		return Call{}, false, ErrNotParty
	}
	return ch.Call, first, nil
}

// NotRemoving takes back Removing when the hang-up failed: the call goes on, and its
// eventual end is not a removal.
func (r *Roster) NotRemoving(ctx context.Context, sid string) error {
	_, err := r.change(ctx, sid, func(c *Call, found bool) (bool, Emit) {
		if !found || c.State == Ended || !c.Removing {
			return false, EmitNone
		}
		c.Removing, c.RemovingAt = false, time.Time{}
		return true, EmitNone
	})
	if err != nil {
		return fmt.Errorf("unmark removal: %w", err)
	}
	return nil
}

// Dialing returns how many dial-outs of the topic have not joined or ended.
func (r *Roster) Dialing(ctx context.Context, topicID string) (int, error) {
	calls, err := r.store.Topic(ctx, topicID)
	if err != nil {
		return 0, fmt.Errorf("list topic: %w", err)
	}
	n := 0
	for _, c := range calls {
		if c.State == Dialing && c.DialOut {
			n++
		}
	}
	return n, nil
}

// StatusFunc returns a call's status from Twilio's Calls resource.
type StatusFunc func(ctx context.Context, sid string) (string, error)

// ReconcileDialing ends the dial-outs whose end Twilio reported unseen: dialing, not listed
// among the conference participants (live), and final in Twilio's Calls resource, which is
// the call's own record (so no listing can predate it). It asks Twilio about at most max
// calls. A ringing call's end carries the reason its status gives.
func (r *Roster) ReconcileDialing(ctx context.Context, live map[string]LiveCall, status StatusFunc, max int) ([]Change, error) {
	calls, err := r.store.Live(ctx)
	if err != nil {
		return nil, fmt.Errorf("list roster: %w", err)
	}
	var out []Change
	for _, c := range calls {
		if c.State != Dialing {
			continue
		}
		if _, listed := live[c.CallSID]; listed {
			continue
		}
		if max--; max < 0 {
			break
		}
		st, err := status(ctx, c.CallSID)
		if err != nil {
			return out, fmt.Errorf("call status: %w", err)
		}
		switch st {
		case "completed", "busy", "no-answer", "failed", "canceled":
		default:
			continue
		}
		ch, err := r.change(ctx, c.CallSID, func(c *Call, found bool) (bool, Emit) {
			if !found || c.State != Dialing {
				return false, EmitNone
			}
			return true, r.end(c, Dialing, leaveReason(Dialing, StatusReason(st)))
		})
		if err != nil {
			return out, fmt.Errorf("end dial-out: %w", err)
		}
		if ch.Emit != EmitNone {
			out = append(out, ch)
		}
	}
	return out, nil
}

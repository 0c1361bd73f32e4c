package roster

import (
	"context"
	"fmt"
	"time"
)

// TombstoneTTL is how long an ended call is kept so that late or repeated callbacks for it
// change nothing. Twilio delivers its callbacks within seconds; retries end within minutes.
const TombstoneTTL = time.Hour

// LiveCall is a call Twilio lists as a participant of a conference in progress.
type LiveCall struct {
	TopicID       string // the conference's friendly name
	ConferenceSID string
	Muted         bool
	OnHold        bool
	// Since is when Twilio created the participant (its date_created); zero when unknown.
	Since time.Time
	// Ringing marks a participant Twilio is still calling (queued, connecting, ringing):
	// not in the conference yet.
	Ringing bool
}

// ListFunc lists the calls in conferences in progress, as Twilio sees them, by CallSid.
type ListFunc func(ctx context.Context) (map[string]LiveCall, error)

// Namer names a call the roster never saw, that reached a conference of topicID: nil leaves
// the call alone (a conference that is not the bridge's). It is called outside any store
// update, only for calls the store does not hold, and may ask Twilio.
type Namer func(ctx context.Context, sid, topicID string) *Identity

// Reconcile brings the roster in line with Twilio's own view:
//   - an online call that Twilio no longer lists leaves: its call ended while the bridge was
//     not told (it was down, or the webhooks were lost). Only a call the store held online,
//     unchanged, before the listing began is ended: one that went online or changed since is
//     kept until the next reconciliation. That compares versions read from the store, never
//     a time written by one instance's clock with another's, so no clock skew between
//     instances can end a live call or keep a gone one.
//   - a call Twilio lists that the roster does not show online joins (name names one the
//     store does not hold, see Namer): its join was missed.
//     An ended call is never brought back.
//
// It returns the changes that owe an event, and live, Twilio's listing. A failed listing
// changes nothing.
func (r *Roster) Reconcile(ctx context.Context, list ListFunc, name Namer) (changes []Change, live map[string]LiveCall, err error) {
	// The store first, then Twilio: a call online in the store before Twilio was asked, and
	// not listed by it, is gone.
	calls, err := r.store.Live(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list roster: %w", err)
	}
	live, err = list(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list live calls: %w", err)
	}
	online := make(map[string]bool, len(calls))
	for _, c := range calls {
		if c.State != Online {
			continue
		}
		online[c.CallSID] = true
		if _, ok := live[c.CallSID]; ok {
			continue
		}
		ch, err := r.Vanished(ctx, c.CallSID, c.Version)
		if err != nil {
			return changes, live, err
		}
		if ch.Emit != EmitNone {
			ch.Fix = Correction{Kind: Ghost, Age: max(r.now().Sub(LastHeard(c)), 0)}
			changes = append(changes, ch)
		}
	}
	for sid, lc := range live {
		if online[sid] || lc.Ringing {
			continue
		}
		ch, err := r.appear(ctx, sid, lc, nil)
		if err == nil && ch.Was == "" && name != nil {
			// Not in the store: name it, and try again.
			if id := name(ctx, sid, lc.TopicID); id != nil {
				ch, err = r.appear(ctx, sid, lc, id)
			}
		}
		if err != nil {
			return changes, live, err
		}
		if ch.Emit != EmitNone {
			ch.Fix = Correction{Kind: Missed, Age: -1}
			if !lc.Since.IsZero() {
				ch.Fix.Age = max(r.now().Sub(lc.Since), 0)
			}
			changes = append(changes, ch)
		}
	}
	return changes, live, nil
}

// Sweep forgets stale calls: tombstones older than TombstoneTTL, and calls that never
// joined older than RoutingTTL.
func (r *Roster) Sweep(ctx context.Context) (int, error) {
	n, err := r.store.Sweep(ctx, r.now())
	if err != nil {
		return n, fmt.Errorf("sweep tombstones: %w", err)
	}
	return n, nil
}

// appear brings online a call Twilio lists in a conference, unless it is online already or
// ended. A call the roster never saw is named by fallback, and skipped when that is nil.
func (r *Roster) appear(ctx context.Context, sid string, lc LiveCall, fallback *Identity) (Change, error) {
	ch, err := r.change(ctx, sid, func(c *Call, found bool) (bool, Emit) {
		switch {
		case !found && fallback == nil:
			return false, EmitNone
		case !found:
			c.Identity, c.TopicID = *fallback, lc.TopicID
		case c.State != Routing && c.State != Dialing && c.State != Waiting:
			return false, EmitNone
		}
		if c.TopicID == "" {
			c.TopicID = lc.TopicID
		}
		if c.ConferenceSID != lc.ConferenceSID {
			c.ConferenceSID, c.ConfSeen = lc.ConferenceSID, false
		}
		c.State, c.Since = Online, r.now()
		c.Muted, c.OnHold = lc.Muted, lc.OnHold
		return true, EmitOnline
	})
	if err != nil {
		return Change{}, fmt.Errorf("join listed call: %w", err)
	}
	if ch.Emit == EmitOnline {
		// Twilio may have listed the call just before its conference ended, and the end,
		// applied meanwhile, did not see it online: an ended conference holds nobody.
		ch = r.unlessEnded(ctx, sid, Participant{ConferenceSID: lc.ConferenceSID}, ch)
	}
	return ch, nil
}

package presence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/roster"
)

// Parties returns one online event per phone party of the topic, in its current state.
func (c *Core) Parties(ctx context.Context, topicID string) ([]mapper.Event, error) {
	calls, err := c.roster.Parties(ctx, topicID)
	if err != nil {
		return nil, err
	}
	events := make([]mapper.Event, 0, len(calls))
	for _, call := range calls {
		events = append(events, c.eventOf(roster.Change{Call: call, Emit: roster.EmitOnline}))
	}
	return events, nil
}

// Remove hangs up a phone party of the topic through Twilio (a dial-out still ringing
// included); its leaves, whose reason is removed, follows from Twilio's callbacks. It
// returns ErrUnknownParty when the topic has no such party. A removal asked for while
// another of the call is waiting on Twilio makes no second Twilio call: it shares that one's
// outcome, which no longer depends on the first asker staying (see removals). A removal of a
// call an earlier, accepted removal is ending makes none either.
func (c *Core) Remove(ctx context.Context, topicID, callSID string) error {
	if c.opts.Twilio == nil {
		if _, err := c.party(ctx, topicID, callSID); err != nil {
			return err
		}
		return fmt.Errorf("hang up: %w", ErrNoTwilio)
	}
	return c.removals.do(ctx, topicID+"\x00"+callSID, func(ctx context.Context) error {
		return c.remove(ctx, topicID, callSID)
	})
}

// remove marks the call as removed, so that its end says so however it is learnt, and hangs
// it up.
func (c *Core) remove(ctx context.Context, topicID, callSID string) error {
	_, first, err := c.roster.Removing(ctx, callSID, topicID)
	if errors.Is(err, roster.ErrNotParty) {
		return ErrUnknownParty
	}
	if err != nil {
		return err
	}
	if !first {
		return nil // an earlier removal, which Twilio accepted, is ending the call
	}
	if err := c.opts.Twilio.Hangup(ctx, callSID); err != nil {
		// The call goes on: its end, when it comes, is not a removal.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if uerr := c.roster.NotRemoving(uctx, callSID); uerr != nil {
			c.log.Error("a failed removal stays marked", "call_sid", callSID, "err", uerr)
		}
		return twilioError(err)
	}
	return nil
}

// Live returns one online event per phone party shown in any topic (online, or a dial-out
// ringing), in its current state.
func (c *Core) Live(ctx context.Context) ([]mapper.Event, error) {
	calls, err := c.roster.Store().Live(ctx)
	if err != nil {
		return nil, err
	}
	var events []mapper.Event
	for _, call := range calls {
		if call.State == roster.Online || (call.State == roster.Dialing && roster.Shown(call)) {
			events = append(events, c.eventOf(roster.Change{Call: call, Emit: roster.EmitOnline}))
		}
	}
	return events, nil
}

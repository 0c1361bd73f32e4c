package presence

import (
	"context"
	"fmt"

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
		events = append(events, eventOf(roster.Change{Call: call, Emit: roster.EmitOnline}))
	}
	return events, nil
}

// Remove hangs up a phone party of the topic through Twilio; its leaves follows from
// Twilio's callbacks. It returns ErrUnknownParty when the topic has no such party online.
func (c *Core) Remove(ctx context.Context, topicID, callSID string) error {
	call, found, err := c.roster.Get(ctx, callSID)
	if err != nil {
		return fmt.Errorf("look up call: %w", err)
	}
	if !found || call.TopicID != topicID || call.State != roster.Online {
		return ErrUnknownParty
	}
	if c.opts.Twilio == nil {
		return fmt.Errorf("hang up: %w", ErrNoTwilio)
	}
	return c.opts.Twilio.Hangup(ctx, callSID)
}

// Live returns one online event per phone party online in any topic, in its current state.
func (c *Core) Live(ctx context.Context) ([]mapper.Event, error) {
	calls, err := c.roster.Store().Live(ctx)
	if err != nil {
		return nil, err
	}
	var events []mapper.Event
	for _, call := range calls {
		if call.State == roster.Online {
			events = append(events, eventOf(roster.Change{Call: call, Emit: roster.EmitOnline}))
		}
	}
	return events, nil
}

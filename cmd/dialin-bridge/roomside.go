package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/publisher"
	"github.com/dialin-bridge/dialin-bridge/roster"
	"github.com/dialin-bridge/dialin-bridge/twilioapi"
	"github.com/dialin-bridge/dialin-bridge/webhook"
)

// roomSide gives the publisher what it needs of the roster and of Twilio.
type roomSide struct {
	roster *roster.Roster
	twilio *twilioapi.Client // nil without credentials
}

var _ publisher.Roster = roomSide{}

// Parties implements publisher.Roster.
func (r roomSide) Parties(ctx context.Context, topicID string) ([]mapper.Event, error) {
	calls, err := r.roster.Parties(ctx, topicID)
	if err != nil {
		return nil, err
	}
	events := make([]mapper.Event, 0, len(calls))
	for _, c := range calls {
		events = append(events, webhook.Event(roster.Change{Call: c, Emit: roster.EmitOnline}))
	}
	return events, nil
}

// Remove implements publisher.Roster: it hangs the call up; the leaves follows from Twilio's
// callbacks.
func (r roomSide) Remove(ctx context.Context, topicID, callSID string) error {
	c, found, err := r.roster.Get(ctx, callSID)
	if err != nil {
		return fmt.Errorf("look up call: %w", err)
	}
	if !found || c.TopicID != topicID || c.State != roster.Online {
		return publisher.ErrUnknownParty
	}
	if r.twilio == nil {
		return errors.New("no Twilio credentials to hang up with")
	}
	return r.twilio.Hangup(ctx, callSID)
}

// liveCalls lists Twilio's live conference participants for reconciliation.
func liveCalls(twilio *twilioapi.Client) roster.ListFunc {
	return func(ctx context.Context) (map[string]roster.LiveCall, error) {
		parts, err := twilio.Live(ctx)
		if err != nil {
			return nil, err
		}
		live := make(map[string]roster.LiveCall, len(parts))
		for _, p := range parts {
			live[p.CallSID] = roster.LiveCall{TopicID: p.Conference, ConferenceSID: p.ConferenceSID, Muted: p.Muted, OnHold: p.Hold}
		}
		return live, nil
	}
}

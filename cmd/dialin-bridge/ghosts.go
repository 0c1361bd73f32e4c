package main

import (
	"context"
	"fmt"

	"github.com/dialin-bridge/dialin-bridge/publisher"
	"github.com/dialin-bridge/dialin-bridge/roster"
)

// retractGhosts shows this instance's clients the leaves of every phone party they were last
// shown online that Twilio no longer lists (live is its listing, taken before the roster was
// reconciled with it) and that the store does not hold online. Reconciliation alone
// cannot end such a party when the store lost it (a Redis restarted empty while the call
// ended): there is no call left to end, and so no leaves. Each instance does it for its own
// clients only, from its own memory of what it showed them, so each client gets one leaves
// and no instance depends on another. A party the store holds online is the roster's to end
// (it went online after the listing began).
func retractGhosts(ctx context.Context, ros *roster.Roster, pub *publisher.Server, live map[string]roster.LiveCall) (int, error) {
	n := 0
	for _, p := range pub.ShownOnline() {
		if _, listed := live[p.CallSID]; listed {
			continue
		}
		c, found, err := ros.Get(ctx, p.CallSID)
		if err != nil {
			return n, fmt.Errorf("look up shown party: %w", err)
		}
		if found && c.State == roster.Online {
			continue
		}
		var atLeast int64 // the store lost the call: any version above the one shown
		if found {
			atLeast = c.Version // its leaves, if another instance sent it, is this one
		}
		if pub.Retract(p, atLeast) {
			n++
		}
	}
	return n, nil
}

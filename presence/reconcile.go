package presence

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/roster"
	"github.com/dialin-bridge/dialin-bridge/twilioapi"
)

// Twilio is what the core needs of Twilio's REST API.
type Twilio interface {
	// Hangup ends a call.
	Hangup(ctx context.Context, callSID string) error
	// Live lists the participants of the conferences in progress.
	Live(ctx context.Context) ([]twilioapi.Participant, error)
	// Caller returns who placed a call: its From and the CallerName Twilio looked up.
	Caller(ctx context.Context, callSID string) (from, callerName string, err error)
	// CallStatus returns a call's status.
	CallStatus(ctx context.Context, callSID string) (string, error)
	// UpdateParticipant mutes or holds a participant (nil: unchanged).
	UpdateParticipant(ctx context.Context, conferenceSID, callSID string, muted, hold *bool) error
	// CreateParticipant calls a number into the conference of that friendly name and
	// returns the call's SID.
	CreateParticipant(ctx context.Context, conference string, d twilioapi.DialOut) (string, error)
}

// maxDialingChecks caps how many dial-outs one reconciliation asks Twilio about.
const maxDialingChecks = 20

// reconcileTimeout caps one reconciliation: Twilio's listing and the store's work.
const reconcileTimeout = 2 * twilioapi.Timeout

// Run reconciles at once and then every interval, and sweeps stale calls, until ctx is done.
// Between reconciliations it catches up from the store when the fan-out asks (see
// Resubscribed).
func (c *Core) Run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		c.ReconcileOnce(ctx)
		if _, err := c.roster.Sweep(ctx); err != nil {
			c.log.Warn("sweeping ended calls failed", "err", err)
		}
		c.ready.Store(true)
		if !c.wait(ctx, tick.C) {
			return
		}
	}
}

// wait waits for the next tick, catching up from the store whenever the fan-out asks. It
// reports false when ctx is done.
func (c *Core) wait(ctx context.Context, tick <-chan time.Time) bool {
	var retry <-chan time.Time // a failed catch-up is tried again (Redis may be failing over)
	for {
		select {
		case <-ctx.Done():
			return false
		case <-c.catchup:
			// Looked at again a moment later as well: events published while the new
			// subscription and the store's connections were moving to a promoted master
			// may be stored after this first look.
			if retry = c.catchUpOrRetry(ctx); retry == nil {
				retry = time.After(catchUpAgain)
			}
		case <-retry:
			retry = c.catchUpOrRetry(ctx)
		case <-tick:
			return true
		}
	}
}

// catchUpRetry is how long a failed catch-up waits before it is tried again. Without the
// retry, a catch-up asked for by a subscription made again during a failover, and failing
// because the store's own connections still point at the old master, would wait for the next
// reconciliation.
const catchUpRetry = 500 * time.Millisecond

// catchUpAgain is when a catch-up asked for by a new subscription looks at the store once more.
const catchUpAgain = 2 * time.Second

func (c *Core) catchUpOrRetry(ctx context.Context) <-chan time.Time {
	if c.catchUpNow(ctx) != nil {
		return time.After(catchUpRetry)
	}
	return nil
}

// Reconciled reports whether the first reconciliation ran (or was skipped for want of
// Twilio credentials).
func (c *Core) Reconciled() bool { return c.ready.Load() }

// ReconcileOnce brings the roster in line with Twilio's view of the conferences in
// progress, publishes what that changes, catches this instance's clients up from the store
// when instances share it (what the fan-out lost), and retracts the parties this instance's
// clients were shown that neither Twilio nor the store hold any more. Without Twilio
// credentials it only counts the parties online and catches up.
func (c *Core) ReconcileOnce(ctx context.Context) {
	if c.opts.Twilio == nil {
		c.seedOnline(ctx)
		c.catchUpNow(ctx)
		return
	}
	// What reconciliation emits must reach every instance's clients: with a fan-out whose
	// subscription is not live (Redis just came back), wait for the next tick.
	if c.opts.Ready != nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := c.opts.Ready(pctx)
		cancel()
		if err != nil {
			c.log.Warn("reconciliation postponed", "err", err)
			return
		}
	}
	rctx, cancel := context.WithTimeout(ctx, reconcileTimeout)
	defer cancel()
	c.seedOnline(rctx)
	changes, live, err := c.roster.Reconcile(rctx, c.liveCalls, c.name)
	c.publish(changes...)
	c.publishMade(err)
	if err == nil {
		// Dial-outs whose end was missed while they rang: not participants, so Twilio's
		// Calls resource says.
		var gone []roster.Change
		gone, err = c.roster.ReconcileDialing(rctx, live, c.opts.Twilio.CallStatus, maxDialingChecks)
		c.publish(gone...)
		changes = append(changes, gone...)
	}
	c.catchUpNow(ctx)
	retracted := 0
	if err == nil {
		retracted, err = c.retractGhosts(rctx, live)
	}
	ended, joined := 0, 0
	for _, ch := range changes {
		if ch.Fix.Kind != "" {
			c.obs.Corrected(ch.Fix.Kind, ch.Fix.Age)
		}
		if ch.Emit == roster.EmitLeaves {
			ended++
		} else {
			joined++
		}
	}
	c.obs.Reconciled(ended+retracted, err)
	if err != nil {
		c.log.Warn("reconciliation failed; roster unchanged", "err", err)
	} else if ended+joined+retracted > 0 {
		c.log.Info("reconciled with Twilio", "ended", ended, "joined", joined, "retracted", retracted)
	}
}

// liveCalls lists Twilio's live conference participants, by call SID.
func (c *Core) liveCalls(ctx context.Context) (map[string]roster.LiveCall, error) {
	parts, err := c.opts.Twilio.Live(ctx)
	if err != nil {
		return nil, err
	}
	live := make(map[string]roster.LiveCall, len(parts))
	for _, p := range parts {
		live[p.CallSID] = roster.LiveCall{TopicID: p.Conference, ConferenceSID: p.ConferenceSID, Muted: p.Muted, OnHold: p.Hold,
			Ringing: p.Status != "connected", Since: p.Created}
	}
	return live, nil
}

// retractGhosts shows this instance's clients the leaves of every phone party they were last
// shown online that Twilio no longer lists (live is its listing, taken before the roster was
// reconciled with it) and that the store does not hold online. Reconciliation alone
// cannot end such a party when the store lost it (a Redis restarted empty while the call
// ended): there is no call left to end, and so no leaves. Each instance does it for its own
// clients only, from its own memory of what it showed them, so each client gets one leaves
// and no instance depends on another. A party the store holds online is the roster's to end
// (it went online after the listing began).
func (c *Core) retractGhosts(ctx context.Context, live map[string]roster.LiveCall) (int, error) {
	if c.opts.Local == nil {
		return 0, nil
	}
	n := 0
	for sid, shown := range c.mem.online() {
		if _, listed := live[sid]; listed {
			continue
		}
		call, found, err := c.roster.Get(ctx, sid)
		if err != nil {
			return n, fmt.Errorf("look up shown party: %w", err)
		}
		if found && (call.State == roster.Online || call.State == roster.Dialing) {
			continue // the roster's to end (a dial-out ringing is in no conference in progress)
		}
		// The leaves takes the call's version in the store if that is above the one shown
		// (another instance may have sent it: arriving later, it is dropped as stale), else
		// any above the one shown (the store lost the call).
		var atLeast int64
		if found {
			atLeast = call.Version
		}
		if c.mem.retract(sid, shown, atLeast, func(p mapper.Party) {
			p.Reason = mapper.ReasonLost
			c.opts.Local.ShowLocal(mapper.Leaves(p, uuid.NewString()))
		}) {
			n++
			c.speech.forget(sid)
			if !found {
				// A ghost no store held any more, last heard of at the version shown. (A
				// call the store ended was counted by the reconciliation that ended it, or
				// ended by a callback: its leaves was late here, not a ghost of the roster.)
				c.obs.Corrected(roster.Ghost, max(time.Since(time.UnixMicro(shown)), 0))
			}
		}
	}
	return n, nil
}

package presence

import (
	"context"
	"time"

	"github.com/dialin-bridge/dialin-bridge/roster"
)

// lobbyTick is how often waiting calls are checked against their time limit.
const lobbyTick = time.Second

// final are the statuses of a call that is over.
var final = map[string]bool{"completed": true, "busy": true, "failed": true, "no-answer": true, "canceled": true}

// RunLobby keeps the lobbies until ctx is done: it ends each wait when its time is up, and
// at once and every interval reconciles the waiting calls with Twilio (a caller who hung up
// while the bridge was down leaves the lobby; one that waited past its time is told so and
// hung up).
func (c *Core) RunLobby(ctx context.Context, interval time.Duration) {
	if c.opts.Lobby.Timeout <= 0 {
		return
	}
	tick := time.NewTicker(lobbyTick)
	defer tick.Stop()
	last := time.Time{}
	for {
		if time.Since(last) >= interval {
			c.ReconcileLobby(ctx)
			last = time.Now()
		}
		c.expireDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// expireDue ends the waits whose time is up.
func (c *Core) expireDue(ctx context.Context) {
	for sid, since := range c.lobby.due(time.Now().Add(-c.opts.Lobby.Timeout)) {
		c.expire(ctx, sid, since)
	}
}

// expire ends a wait whose time is up and, if this instance ended it, has Twilio tell the
// caller and hang up.
func (c *Core) expire(ctx context.Context, sid string, since time.Time) {
	ctx, cancel := context.WithTimeout(ctx, reconcileTimeout)
	defer cancel()
	expired, err := c.TimeOut(ctx, sid, since)
	if err != nil {
		c.log.Warn("lobby wait not ended", "call_sid", sid, "err", err)
		c.lobby.watch(sid, since) // tried again at the next tick
		return
	}
	lo := c.opts.Lobby
	if !expired || lo.Twilio == nil || lo.TimedOut == nil {
		return
	}
	x, err := lo.TimedOut()
	if err == nil {
		err = lo.Twilio.Move(ctx, sid, x)
	}
	if err != nil {
		// Its next <Redirect> finds the wait over and hangs up.
		c.log.Warn("a caller whose lobby wait ended was not told so at once", "call_sid", sid, "err", err)
	}
}

// ReconcileLobby brings the waiting calls in line with Twilio: one whose call is over leaves
// the lobby; the others are watched for their time limit by this instance too.
func (c *Core) ReconcileLobby(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, reconcileTimeout)
	defer cancel()
	calls, err := c.roster.Store().Live(ctx)
	if err != nil {
		c.log.Warn("lobby reconciliation failed", "err", err)
		return
	}
	for _, call := range calls {
		if call.State != roster.Waiting {
			continue
		}
		c.lobby.watch(call.CallSID, call.Since)
		if c.opts.Lobby.Twilio == nil {
			continue
		}
		status, err := c.opts.Lobby.Twilio.CallStatus(ctx, call.CallSID)
		if err != nil {
			c.log.Warn("lobby reconciliation: call status unknown", "call_sid", call.CallSID, "err", err)
			continue
		}
		if !final[status] {
			continue
		}
		ch, expired, err := c.roster.Expire(ctx, call.CallSID, call.Since)
		if err != nil {
			c.log.Warn("lobby reconciliation: wait not ended", "call_sid", call.CallSID, "err", err)
			continue
		}
		if expired {
			c.log.Info("lobby reconciliation: the waiting caller hung up", "call_sid", call.CallSID, "status", status)
			ch.Was = roster.Waiting
			c.lobbyLeft(ch)
		}
	}
}

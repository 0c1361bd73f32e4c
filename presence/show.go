package presence

import (
	"context"
	"fmt"
	"time"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/roster"
)

// Local shows events to this instance's own room clients alone, not to other instances nor
// the platform. ShowLocal must not block.
type Local interface {
	ShowLocal(ev mapper.Event)
}

// catchUpTimeout caps one catch-up from the store.
const catchUpTimeout = 10 * time.Second

// Deliver shows this instance's clients ev, an event of a phone party that another instance
// published, by calling show: in order with the other events of the call shown here, and
// only if it is newer than every one of them. It reports whether it called show. show must
// not block.
func (c *Core) Deliver(ev mapper.Event, show func()) bool {
	var p *mapper.Party
	if ev.Category == mapper.CategoryOnline {
		pp := mapper.PartyOf(ev)
		p = &pp
	}
	shown := c.mem.show(ev.Sender.ID, ev.Version, p, show)
	if shown && ev.Category == mapper.CategoryLeaves {
		c.speech.forget(ev.Sender.ID) // it left through another instance: nothing of it waits here
	}
	return shown
}

// Replay shows one client ev, a party's state as Parties read it, by calling show: in order
// with the other events of the call shown here, and unless a newer state of the call was
// shown meanwhile (its leaves, say, published between the read and now). So a client never
// ends with an older state of a call than one it was sent. It reports whether it called
// show, which must not block. Replay remembers nothing: the other clients were not shown ev.
func (c *Core) Replay(ev mapper.Event, show func()) bool {
	return c.mem.current(ev.Sender.ID, ev.Version, show)
}

// Current reports whether version is as new as every event of the call shown here: for a
// sink that orders its own writes and must not write a state read from the store before a
// change it was since handed (the platform's answers and replays).
func (c *Core) Current(callSID string, version int64) bool {
	return c.mem.latest(callSID, version)
}

// Resubscribed tells the core that the fan-out between instances (re)made its
// subscription: what other instances published meanwhile was lost, so the core catches its
// clients up from the store (on its Run goroutine). It never blocks.
func (c *Core) Resubscribed() {
	select {
	case c.catchup <- struct{}{}:
	default: // one is due already
	}
}

// catchUpNow catches this instance's clients up from the store, when instances share it.
func (c *Core) catchUpNow(ctx context.Context) error {
	if !c.opts.Shared || c.opts.Local == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	n, err := c.catchUp(ctx)
	if n > 0 {
		c.obs.CaughtUp(n)
		c.log.Warn("this instance's clients had missed events (the fan-out lost them); shown from the store", "events", n)
	}
	if err != nil {
		c.log.Warn("catching up from the store failed", "err", err)
	}
	return err
}

// catchUp shows this instance's clients every change the store holds that they were not
// shown: each party online at a version above the one shown here (its join or change was
// lost on the way from another instance), and the leaves of each party shown online that
// the store holds ended. It shows them to this instance's clients alone: each instance
// catches up its own. It returns how many events it showed.
//
// A party the store does not hold at all is not its business: reconciliation retracts it
// when Twilio no longer lists it (see retractGhosts).
func (c *Core) catchUp(ctx context.Context) (int, error) {
	calls, err := c.roster.Store().Live(ctx)
	if err != nil {
		return 0, fmt.Errorf("list roster: %w", err)
	}
	n := 0
	online := make(map[string]bool, len(calls))
	for _, call := range calls {
		if call.State != roster.Online && !(call.State == roster.Dialing && roster.Shown(call)) {
			continue
		}
		online[call.CallSID] = true
		if c.showLocal(roster.Change{Call: call, Emit: roster.EmitOnline}) {
			n++
		}
	}
	for sid, v := range c.mem.online() {
		if online[sid] {
			continue
		}
		call, found, err := c.roster.Get(ctx, sid)
		if err != nil {
			return n, fmt.Errorf("look up shown party: %w", err)
		}
		if !found || call.State != roster.Ended || call.Version <= v {
			continue
		}
		if c.showLocal(roster.Change{Call: call, Emit: roster.EmitLeaves}) {
			n++
		}
	}
	return n, nil
}

// showLocal shows this instance's clients the event a stored call owes, if it is newer than
// what they were shown of the call.
func (c *Core) showLocal(ch roster.Change) bool {
	if c.mem.version(ch.Call.CallSID) >= ch.Call.Version {
		return false // shown already, or a newer state was
	}
	shown := c.mem.catchUp(ch.Call.CallSID, ch.Call.Version, c.shownParty(ch), func() {
		c.opts.Local.ShowLocal(c.eventOf(ch))
	})
	if shown && ch.Emit == roster.EmitLeaves {
		c.speech.forget(ch.Call.CallSID)
	}
	return shown
}

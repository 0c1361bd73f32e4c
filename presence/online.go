package presence

import (
	"context"

	"github.com/dialin-bridge/dialin-bridge/roster"
)

// Online is the number of phone parties online as this instance knows it, without asking
// the store: counted from the store at each reconciliation, and between them followed
// change by change as this instance applies them. With one instance (bolt, memory) that is
// every change, so the count is exact. With several (Redis), changes applied by other
// instances show at this one's next reconciliation.
func (c *Core) Online() int { return int(c.online.Load()) }

// follow moves the count of online parties by what one change did.
func (c *Core) follow(ch roster.Change) {
	switch {
	case ch.Was != roster.Online && ch.Call.State == roster.Online:
		c.obs.Online(int(c.online.Add(1)))
	case ch.Was == roster.Online && ch.Call.State != roster.Online:
		c.obs.Online(int(c.online.Add(-1)))
	}
}

// seedOnline counts the parties online from the store. Changes applied while it lists are
// counted twice or not at all until the next seeding.
func (c *Core) seedOnline(ctx context.Context) {
	calls, err := c.roster.Store().Live(ctx)
	if err != nil {
		return
	}
	n := 0
	for _, call := range calls {
		if call.State == roster.Online {
			n++
		}
	}
	c.online.Store(int64(n))
	c.obs.Online(n)
}

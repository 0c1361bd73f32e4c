package roster

import (
	"context"
	"fmt"
	"time"
)

// TombstoneTTL is how long an ended call is kept so that late or repeated callbacks for it
// change nothing. Twilio delivers its callbacks within seconds; retries end within minutes.
const TombstoneTTL = time.Hour

// ListFunc lists the calls in conferences in progress, as Twilio sees them, by CallSid.
type ListFunc func(ctx context.Context) (map[string]string, error)

// Reconcile ends every online call that list no longer shows: its call ended while the bridge
// was not told (it was down, or the webhooks were lost). A call that went online after the
// listing began is kept, and a failed listing changes nothing. It also forgets tombstones
// older than TombstoneTTL.
func (r *Roster) Reconcile(ctx context.Context, list ListFunc, emit EmitFunc) (ended int, err error) {
	listedAt := r.now()
	live, err := list(ctx)
	if err != nil {
		return 0, fmt.Errorf("list live calls: %w", err)
	}
	calls, err := r.store.Live(ctx)
	if err != nil {
		return 0, fmt.Errorf("list roster: %w", err)
	}
	for _, c := range calls {
		if _, ok := live[c.CallSID]; ok || c.State != Online {
			continue
		}
		ch, err := r.Vanished(ctx, c.CallSID, listedAt, emit)
		if err != nil {
			return ended, err
		}
		if ch.Emit == EmitLeaves {
			ended++
		}
	}
	if _, err := r.store.Sweep(ctx, r.now().Add(-TombstoneTTL)); err != nil {
		return ended, fmt.Errorf("sweep tombstones: %w", err)
	}
	return ended, nil
}

package presence

import (
	"sync"
	"time"
)

// orderMemory is how long the last version published for a call is remembered after its
// last publication. A change can only be overtaken by one stored after it while it is on its
// way here (a webhook or a reconciliation in flight), which takes seconds at most.
const orderMemory = 10 * time.Minute

// order keeps, per call, the last version published and a lock that orders publications
// of the call (see Core.publish).
type order struct {
	mu    sync.Mutex
	calls map[string]*callOrder
	ops   int // publications since the last sweep
}

type callOrder struct {
	mu    sync.Mutex // held while the call's event goes to the sinks
	last  int64      // the last version published
	at    time.Time  // when it was
	users int        // publications waiting for or holding mu; guarded by order.mu
}

// publish runs fn, with the call's lock held, if version is above the last one published
// for the call, and reports whether it did.
func (o *order) publish(sid string, version int64, fn func()) bool {
	co := o.acquire(sid)
	defer o.release(co)
	co.mu.Lock()
	defer co.mu.Unlock()
	if version <= co.last {
		return false
	}
	co.last, co.at = version, time.Now()
	fn()
	return true
}

func (o *order) acquire(sid string) *callOrder {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.calls == nil {
		o.calls = make(map[string]*callOrder)
	}
	co := o.calls[sid]
	if co == nil {
		co = &callOrder{}
		o.calls[sid] = co
	}
	co.users++
	o.ops++
	if o.ops >= 4096 {
		o.ops = 0
		o.sweepLocked(time.Now().Add(-orderMemory))
	}
	return co
}

func (o *order) release(co *callOrder) {
	o.mu.Lock()
	co.users--
	o.mu.Unlock()
}

// sweepLocked forgets calls nobody is publishing whose last publication is before cutoff.
// The caller holds o.mu; a call's at is read under the call's own lock only when it has no
// users, so nobody writes it meanwhile.
func (o *order) sweepLocked(cutoff time.Time) {
	for sid, co := range o.calls {
		if co.users == 0 && co.at.Before(cutoff) {
			delete(o.calls, sid)
		}
	}
}

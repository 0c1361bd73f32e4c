package presence

import (
	"context"
	"sync"
	"time"
)

// removalTimeout bounds one removal's wait on Twilio, however many ask for it.
const removalTimeout = 15 * time.Second

// removals merges the removals of one call asked for while an earlier one waits on Twilio:
// they share its outcome, and it goes on while any of them still waits for it. It ends when
// the last asker goes away (so a shutdown that ends its askers ends it), or after
// removalTimeout.
type removals struct {
	mu      sync.Mutex
	pending map[string]*removal
}

// removal is one hang-up under way, and the askers waiting for it.
type removal struct {
	done    chan struct{}
	err     error
	waiting int
	cancel  context.CancelFunc
}

// do runs fn once for every key asked for meanwhile, on a context that lives while an asker
// waits, and returns its error; or ctx's, when ctx ends first.
func (rs *removals) do(ctx context.Context, key string, fn func(context.Context) error) error {
	rs.mu.Lock()
	if rs.pending == nil {
		rs.pending = map[string]*removal{}
	}
	r, ok := rs.pending[key]
	if !ok {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removalTimeout)
		r = &removal{done: make(chan struct{}), cancel: cancel}
		rs.pending[key] = r
		go func() { // owned by the askers: it ends when they all leave, or at removalTimeout
			err := fn(rctx)
			cancel()
			rs.mu.Lock()
			delete(rs.pending, key)
			r.err = err
			rs.mu.Unlock()
			close(r.done)
		}()
	}
	r.waiting++
	rs.mu.Unlock()

	select {
	case <-r.done:
		rs.leave(r)
		return r.err
	case <-ctx.Done():
		rs.leave(r)
		return ctx.Err()
	}
}

// leave counts an asker out; the last one ends the removal's context.
func (rs *removals) leave(r *removal) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r.waiting--
	if r.waiting == 0 {
		r.cancel()
	}
}

package roster

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	bolt "go.etcd.io/bbolt"
)

// boltOp is one update waiting for the next commit. fn returns, when it wrote anything, what
// to apply to the live index once the commit succeeds (nil when it wrote nothing). done gets
// the update's outcome, or errLead: the update's goroutine is to commit the queue.
type boltOp struct {
	fn   boltFn
	done chan error
}

type boltFn func(*bolt.Tx) (apply func(), err error)

// errLead tells a queued update that its goroutine commits next.
var errLead = errors.New("lead the next commit")

// errNothingWritten rolls back a group none of whose updates wrote anything: nothing to
// commit, and nothing to write to the file.
var errNothingWritten = errors.New("nothing written")

// commit runs a group in one transaction. An update whose function fails is answered with
// its error and the rest are committed without it. A panic while committing (bbolt panics on
// a damaged page) answers the whole group with an error and marks the store failed: later
// updates and Ping fail, rather than wait for a commit that will not come.
func (b *Bolt) commit(group []*boltOp) {
	answered := 0
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("bolt commit failed: %v", r)
			b.failed.CompareAndSwap(nil, &storeFailure{err})
			for _, op := range group[answered:] {
				op.done <- err
			}
		}
	}()
	if f := b.failed.Load(); f != nil {
		for _, op := range group {
			op.done <- f.err
		}
		answered = len(group)
		return
	}
	applies := make([]func(), 0, len(group))
	for len(group) > 0 {
		failed := -1
		var opErr error
		applies = applies[:0]
		err := b.db.Update(func(tx *bolt.Tx) error {
			for i, op := range group {
				apply, err := op.fn(tx)
				if err != nil {
					failed, opErr = i, err
					return err
				}
				if apply != nil {
					applies = append(applies, apply)
				}
			}
			if len(applies) == 0 {
				return errNothingWritten
			}
			return nil
		})
		if failed < 0 {
			switch err {
			case errNothingWritten:
				err = nil
			case nil:
				b.dirty.Store(true)
				b.liveMu.Lock()
				for _, apply := range applies {
					apply()
				}
				b.liveMu.Unlock()
			}
			for _, op := range group {
				op.done <- err
			}
			answered = len(group)
			return
		}
		group[failed].done <- opErr
		group = append(group[:failed], group[failed+1:]...)
	}
}

// batch runs fn in the next group commit and returns once it is written.
func (b *Bolt) batch(ctx context.Context, fn boltFn) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &boltOp{fn: fn, done: make(chan error, 1)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.queue = append(b.queue, op)
	if b.leading {
		b.mu.Unlock()
		// Once queued, the update is committed or refused whatever ctx says: wait for it.
		if err := <-op.done; err != errLead {
			return err
		}
		b.mu.Lock()
	}
	if !b.leading && len(b.queue) == 1 {
		// Commit after the goroutines ready to run have run: webhooks under way reach their
		// updates and queue them, to be committed in this one transaction. When none is
		// ready (webhooks one at a time), this goroutine goes on at once. At saturation it
		// took the bolt file's page writes from 8 per dial-in to 2.4.
		b.leading = true
		b.mu.Unlock()
		runtime.Gosched()
		b.mu.Lock()
	}
	b.lead()
	return <-op.done
}

// lead commits the queue, which holds the caller's own update, and hands on to the first
// update queued meanwhile, if any. b.mu is held on entry and released on return.
func (b *Bolt) lead() {
	b.leading = true
	group := b.queue
	b.queue = nil
	b.mu.Unlock()
	b.commit(group)
	b.mu.Lock()
	if len(b.queue) > 0 {
		b.queue[0].done <- errLead // stays leading: the first waiter takes over
	} else {
		b.leading = false
		b.idle.Broadcast()
	}
	b.mu.Unlock()
}

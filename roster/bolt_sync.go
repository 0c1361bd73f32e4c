package roster

import (
	"fmt"
	"time"
)

type storeFailure struct{ err error }

// SyncInterval is how long a change may wait in the kernel before the bolt file is synced
// to the disk: what a machine crash can lose.
const SyncInterval = time.Second

// syncLoop syncs the file at most b.interval after a commit.
func (b *Bolt) syncLoop() {
	defer close(b.synced)
	tick := time.NewTicker(b.interval)
	defer tick.Stop()
	for {
		select {
		case <-b.quit:
			return
		case <-tick.C:
			b.sync()
		}
	}
}

// sync syncs the file if anything was committed since the last sync. A failed sync fails
// the store for good: after a failed fdatasync the kernel may have dropped the pages it
// could not write, and a later sync that succeeds says nothing about them. Ping then fails,
// and Close does not mark the store closed cleanly, so that the file is checked when it is
// next opened.
func (b *Bolt) sync() {
	if !b.dirty.Swap(false) {
		return
	}
	if err := b.db.Sync(); err != nil {
		b.failed.CompareAndSwap(nil, &storeFailure{fmt.Errorf("sync bolt file: %w", err)})
	}
}

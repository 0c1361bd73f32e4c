package roster

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"
	bolt "go.etcd.io/bbolt"
)

// BoltFile is the name of the bolt file in the data directory.
const BoltFile = "roster.db"

var (
	bucketCalls = []byte("calls") // CallSid → JSON Call
	// bucketLive indexed the calls not ended by topic, in files written before the index
	// moved to memory (Bolt.live); it is deleted when such a file is opened.
	bucketLive = []byte("live")
)

// Bolt is a Store in an embedded bbolt file.
//
// Each update is written to the file before Update returns, so a process that dies (kill -9,
// a crash) loses nothing it was told was stored: the kernel holds the writes and the file is
// whole. The file is synced to the disk in the background, at most SyncInterval after a
// change (and at Close), not by every commit: a commit synced on its own costs two
// fdatasyncs, most of a webhook's CPU at the rates real deployments see. The price is the
// machine's own crash (power lost, kernel panic, the VM stopped): it can lose the changes of
// up to the last SyncInterval and, as the kernel writes the file's pages in no particular
// order, leave the file damaged. A store that was not closed cleanly is therefore checked
// when it is opened (BoltOptions.Check), and a damaged file is set aside and replaced by an
// empty one; reconciliation with Twilio then brings back every call still in a conference.
//
// Updates are group-committed, in the goroutines of their callers: an update that finds no
// commit running commits in its own goroutine (no hand-off to another), once it has let the
// goroutines ready to run meanwhile (other webhooks) reach their updates and queue them;
// those that arrive during a commit queue, and the first of them, once it is over, commits
// them all.
type Bolt struct {
	db      *bolt.DB
	quit    chan struct{}
	synced  chan struct{} // syncLoop is done
	closing sync.Once
	dir     string

	mu      sync.Mutex
	queue   []*boltOp // updates waiting for the next commit
	leading bool      // a commit is running, and will hand on to the first of queue
	closed  bool
	idle    sync.Cond // signalled when leading ends

	interval time.Duration
	dirty    atomic.Bool                  // committed since the last sync
	failed   atomic.Pointer[storeFailure] // a sync or a commit failed: see sync and commit

	lock        *flock.Flock // holds the directory's lock (see lockDir)
	setAside    string       // where a damaged file was moved at open ("" if none)
	setAsideErr error

	// live indexes the calls not ended, by topic: it is built when the file is opened and
	// kept by the commits, so that a commit writes one bucket's pages, not two.
	liveMu sync.RWMutex
	live   map[string]map[string]struct{} // TopicID → CallSid
}

var _ Store = (*Bolt)(nil)

// SetAside reports the damaged file OpenBoltWith set aside, and what was wrong with it; ""
// when there was none.
func (b *Bolt) SetAside() (string, error) { return b.setAside, b.setAsideErr }

// Update implements Store.
func (b *Bolt) Update(ctx context.Context, sid string, fn func(c *Call, found bool) bool) error {
	return b.batch(ctx, func(tx *bolt.Tx) (func(), error) {
		calls := tx.Bucket(bucketCalls)
		u, err := updateCall(sid, calls.Get([]byte(sid)), fn)
		if err != nil || !u.save {
			return nil, err
		}
		if err := calls.Put([]byte(sid), u.value); err != nil {
			return nil, err
		}
		before, after := u.before, u.after
		return func() {
			if u.found && before.State != Ended {
				b.unindex(before.TopicID, sid)
			}
			if after.State != Ended {
				b.index(after.TopicID, sid)
			}
		}, nil
	})
}

// Get implements Store.
func (b *Bolt) Get(ctx context.Context, sid string) (Call, bool, error) {
	var (
		c     Call
		found bool
	)
	err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCalls).Get([]byte(sid))
		if v == nil {
			return nil
		}
		found = true
		var err error
		c, err = decodeCall(sid, v)
		return err
	})
	return c, found, err
}

// Ping implements Store: it fails once the store failed (see sync and commit).
func (b *Bolt) Ping(ctx context.Context) error {
	if f := b.failed.Load(); f != nil {
		return f.err
	}
	return b.db.View(func(*bolt.Tx) error { return nil })
}

// Close implements Store: it waits for the commits under way, refuses updates from then
// on, syncs the file, closes it and marks the store closed cleanly.
func (b *Bolt) Close() error {
	err := ErrClosed
	b.closing.Do(func() {
		close(b.quit)
		<-b.synced
		b.mu.Lock()
		b.closed = true
		for b.leading {
			b.idle.Wait()
		}
		b.mu.Unlock()
		err = b.db.Sync()
		if f := b.failed.Load(); f != nil && err == nil {
			err = f.err
		}
		if cerr := b.db.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = putMarker(b.dir)
		}
		b.lock.Close()
	})
	return err
}

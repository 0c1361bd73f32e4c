package roster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"
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
// commit running commits at once, in its own goroutine (no hand-off to another); those that
// arrive during a commit queue, and the first of them, once it is over, commits them all.
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

	lock        *os.File // holds the directory's lock (see lockDir)
	setAside    string   // where a damaged file was moved at open ("" if none)
	setAsideErr error

	// live indexes the calls not ended, by topic: it is built when the file is opened and
	// kept by the commits, so that a commit writes one bucket's pages, not two.
	liveMu sync.RWMutex
	live   map[string]map[string]struct{} // TopicID → CallSid
}

type storeFailure struct{ err error }

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

// SyncInterval is how long a change may wait in the kernel before the bolt file is synced
// to the disk: what a machine crash can lose.
const SyncInterval = time.Second

// cleanMarker is the file, beside the bolt file, that says the store was closed cleanly. It
// is removed (durably) when the store opens and written again when it closes: a store opened
// without it was not closed cleanly, and its file is checked.
const cleanMarker = "roster.clean"

// BoltOptions tune OpenBoltWith.
type BoltOptions struct {
	// Check checks the file of a store that was not closed cleanly and returns an error when
	// it is damaged. Nil: CheckBolt.
	Check func(path string) error
	// SyncInterval overrides SyncInterval (tests).
	SyncInterval time.Duration
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens (creating if need be) the roster file in dir, with the default options.
func OpenBolt(dir string) (*Bolt, error) { return OpenBoltWith(dir, BoltOptions{}) }

// OpenBoltWith opens (creating if need be) the roster file in dir. A file left by a store
// that was not closed cleanly is checked first; a damaged one is renamed (see SetAside) and
// an empty store is opened in its place.
func OpenBoltWith(dir string, o BoltOptions) (*Bolt, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if o.Check == nil {
		o.Check = CheckBolt
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = SyncInterval
	}
	b := &Bolt{quit: make(chan struct{}), synced: make(chan struct{}), dir: dir, interval: o.SyncInterval}
	b.idle.L = &b.mu
	// The directory is this store's alone before its marker is taken or its file checked: a
	// second bridge on the same directory must not take the first one's file for damaged.
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	b.lock = lock
	opened := false
	defer func() {
		if !opened {
			lock.Close()
		}
	}()
	path := filepath.Join(dir, BoltFile)
	clean, err := takeMarker(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err == nil && !clean {
		if cerr := o.Check(path); cerr != nil {
			if !errors.Is(cerr, ErrDamaged) {
				return nil, fmt.Errorf("check bolt file: %w", cerr)
			}
			if err := b.setAsideFile(path, cerr); err != nil {
				return nil, err
			}
		}
	}
	db, err := openWritable(path)
	if errors.Is(err, ErrDamaged) && b.setAside == "" {
		// The check passed, but bbolt's own walk of the pages when it opens the file did not.
		if err := b.setAsideFile(path, err); err != nil {
			return nil, err
		}
		db, err = openWritable(path)
	}
	if err != nil {
		return nil, fmt.Errorf("open bolt file: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketLive); err != nil && !errors.Is(err, bolterr.ErrBucketNotFound) {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketCalls)
		return err
	})
	if err == nil {
		err = db.Sync()
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("create buckets: %w", err)
	}
	b.live = map[string]map[string]struct{}{}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCalls).ForEach(func(k, v []byte) error {
			var c struct {
				TopicID string `json:"t"`
				State   State  `json:"s"`
			}
			if json.Unmarshal(v, &c) == nil && c.State != Ended {
				b.index(c.TopicID, string(k))
			}
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("index calls: %w", err)
	}
	b.db = db
	opened = true
	go b.syncLoop()
	return b, nil
}

// lockFile is the file, beside the bolt file, whose lock says a store has the directory.
const lockFile = "roster.lock"

// lockDir takes the directory's lock, or fails at once if another process holds it.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s is in use by another process", dir)
		}
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	return f, nil
}

// ErrDamaged marks a bolt file found damaged.
var ErrDamaged = errors.New("bolt file damaged")

// setAsideFile renames the damaged file at path, found so for why.
func (b *Bolt) setAsideFile(path string, why error) error {
	aside := fmt.Sprintf("%s.damaged-%s", path, time.Now().UTC().Format("20060102T150405.000000000Z"))
	if err := os.Rename(path, aside); err != nil {
		return fmt.Errorf("set aside damaged bolt file (%v): %w", why, err)
	}
	b.setAside, b.setAsideErr = aside, why
	return nil
}

// openWritable opens the bolt file at path for the store. bbolt walks every page of a file
// it opens (to rebuild the freelist, which is not written) and panics on a damaged one: that
// is ErrDamaged here, when it panics in this goroutine.
func openWritable(path string) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrDamaged, r)
		}
	}()
	return bolt.Open(path, 0o600, &bolt.Options{
		Timeout: 2 * time.Second,
		// The freelist is rebuilt from the pages when the file is opened instead of being
		// written with every commit: commits write less, and nothing is lost, as the
		// freelist only says which pages are free.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// Commits are written, not synced; syncLoop syncs (see Bolt).
		NoSync: true,
	})
}

// SetAside reports the damaged file OpenBoltWith set aside, and what was wrong with it; ""
// when there was none.
func (b *Bolt) SetAside() (string, error) { return b.setAside, b.setAsideErr }

// takeMarker removes the clean-close marker of dir, durably, and reports whether it was there.
func takeMarker(dir string) (bool, error) {
	err := os.Remove(filepath.Join(dir, cleanMarker))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("remove clean marker: %w", err)
	}
	return true, syncDir(dir)
}

// putMarker writes the clean-close marker of dir, durably.
func putMarker(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, cleanMarker), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync data dir: %w", err)
	}
	return nil
}

// CheckBolt opens the bolt file at path read-only and walks every bucket, page and record
// of it, in this goroutine, recovering from bbolt's panics and from faults on pages beyond
// the file. It does not run bbolt's own Tx.Check, which can panic in a goroutine of its own
// on a damaged file: CheckBoltFull does, in a process of its own.
func CheckBolt(path string) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrDamaged, r)
		}
	}()
	db, err := openReadOnly(path)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		calls := tx.Bucket(bucketCalls)
		if calls == nil {
			return fmt.Errorf("%w: the calls bucket is missing", ErrDamaged)
		}
		err := calls.ForEach(func(k, v []byte) error {
			_, err := decodeCall(string(k), v)
			return err
		})
		if err == nil && tx.Bucket(bucketLive) != nil {
			err = tx.Bucket(bucketLive).ForEach(func(k, v []byte) error { return nil })
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrDamaged, err)
		}
		return nil
	})
}

// openReadOnly opens the bolt file at path to check it. A file bbolt refuses to open
// (invalid, or both meta pages bad) is ErrDamaged; one it cannot lock in time is not.
func openReadOnly(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	switch {
	case errors.Is(err, bolterr.ErrTimeout):
		return nil, fmt.Errorf("open bolt file: %w", err)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	return db, nil
}

// CheckBoltFull is CheckBolt and then bbolt's own Tx.Check of every page and the free list.
// A damaged file can make it panic where nothing recovers: run it in a process of its own.
func CheckBoltFull(path string) error {
	if err := CheckBolt(path); err != nil {
		return err
	}
	db, err := openReadOnly(path)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			if len(errs) < 3 {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%w: %w", ErrDamaged, errors.Join(errs...))
		}
		return nil
	})
}

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

// index and unindex change the live index; b.liveMu is held, or the store not yet shared.
func (b *Bolt) index(topicID, sid string) {
	t := b.live[topicID]
	if t == nil {
		t = map[string]struct{}{}
		b.live[topicID] = t
	}
	t[sid] = struct{}{}
}

func (b *Bolt) unindex(topicID, sid string) {
	if t := b.live[topicID]; t != nil {
		delete(t, sid)
		if len(t) == 0 {
			delete(b.live, topicID)
		}
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

func decodeCall(sid string, v []byte) (Call, error) {
	var c Call
	if err := json.Unmarshal(v, &c); err != nil {
		return Call{}, fmt.Errorf("decode call %s: %w", sid, err)
	}
	c.CallSID = sid
	return c, nil
}

// updated is one update of a stored call: the call before and after fn, and after's
// encoding when it is to be saved.
type updated struct {
	before, after Call
	found, save   bool
	value         []byte
}

// updateCall is what every encoding store does in an update: it decodes the stored value
// of call sid (nil when there is none), lets fn change the call, and encodes it when fn
// wants it saved.
func updateCall(sid string, stored []byte, fn func(c *Call, found bool) bool) (updated, error) {
	u := updated{before: Call{CallSID: sid}, found: stored != nil}
	if u.found {
		var err error
		if u.before, err = decodeCall(sid, stored); err != nil {
			return u, err
		}
	}
	c := u.before
	if !fn(&c, u.found) {
		return u, nil
	}
	c.CallSID = sid
	v, err := json.Marshal(c)
	if err != nil {
		return u, fmt.Errorf("encode call: %w", err)
	}
	u.after, u.save, u.value = c, true, v
	return u, nil
}

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

// Topic implements Store.
func (b *Bolt) Topic(ctx context.Context, topicID string) ([]Call, error) {
	b.liveMu.RLock()
	sids := make([]string, 0, len(b.live[topicID]))
	for sid := range b.live[topicID] {
		sids = append(sids, sid)
	}
	b.liveMu.RUnlock()
	return b.calls(sids, topicID)
}

// Live implements Store.
func (b *Bolt) Live(ctx context.Context) ([]Call, error) {
	b.liveMu.RLock()
	var sids []string
	for _, t := range b.live {
		for sid := range t {
			sids = append(sids, sid)
		}
	}
	b.liveMu.RUnlock()
	return b.calls(sids, "")
}

// calls reads the calls sids that have not ended (of topic topicID, unless it is ""): the
// index was read before, and a call may have moved or ended since.
func (b *Bolt) calls(sids []string, topicID string) ([]Call, error) {
	var out []Call
	err := b.db.View(func(tx *bolt.Tx) error {
		calls := tx.Bucket(bucketCalls)
		for _, sid := range sids {
			v := calls.Get([]byte(sid))
			if v == nil {
				continue
			}
			c, err := decodeCall(sid, v)
			if err != nil {
				return err
			}
			if c.State != Ended && (topicID == "" || c.TopicID == topicID) {
				out = append(out, c)
			}
		}
		return nil
	})
	return out, err
}

// Sweep sizes: the file is read sweepScan records per read transaction (which never stops a
// commit), and the stale calls are deleted sweepBatch per commit, so that a webhook's update
// waits behind one small batch at most, never behind the whole file.
const (
	sweepScan  = 1024
	sweepBatch = 64
)

// Sweep implements Store. It finds the stale calls with read transactions, then deletes
// them in small batches through the group commit, each call checked again as it is deleted
// (an update may have changed it meanwhile).
func (b *Bolt) Sweep(ctx context.Context, now time.Time) (int, error) {
	stale, err := b.staleCalls(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for len(stale) > 0 {
		batch := stale[:min(sweepBatch, len(stale))]
		stale = stale[len(batch):]
		deleted := 0
		err := b.batch(ctx, func(tx *bolt.Tx) (func(), error) {
			calls := tx.Bucket(bucketCalls)
			var gone []Call
			for _, sid := range batch {
				v := calls.Get([]byte(sid))
				if v == nil {
					continue
				}
				c, err := stateAndSince(v)
				switch {
				case err != nil:
					c = Call{State: Ended} // unreadable: drop it
				case !Stale(c, now):
					continue
				case c.State != Ended:
					if c, err = decodeCall(sid, v); err != nil {
						c = Call{State: Ended}
					}
				}
				c.CallSID = sid
				gone = append(gone, c)
			}
			for _, c := range gone {
				if err := calls.Delete([]byte(c.CallSID)); err != nil {
					return nil, err
				}
			}
			deleted = len(gone)
			if len(gone) == 0 {
				return nil, nil
			}
			return func() {
				for _, c := range gone {
					if c.State != Ended {
						b.unindex(c.TopicID, c.CallSID)
					}
				}
			}, nil
		})
		if err != nil {
			return n, err
		}
		n += deleted
	}
	return n, nil
}

// staleCalls lists the calls that look stale at now (or cannot be read), reading the file
// sweepScan records per read transaction. It decodes only a record's state and time.
func (b *Bolt) staleCalls(ctx context.Context, now time.Time) ([]string, error) {
	var (
		stale []string
		after []byte // the last key read; nil before the first
	)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		more := false
		err := b.db.View(func(tx *bolt.Tx) error {
			cur := tx.Bucket(bucketCalls).Cursor()
			k, v := cur.First()
			if after != nil {
				k, v = cur.Seek(after)
				if k != nil && string(k) == string(after) {
					k, v = cur.Next()
				}
			}
			for read := 0; k != nil; k, v = cur.Next() {
				if read == sweepScan {
					more = true
					break
				}
				read++
				if c, err := stateAndSince(v); err != nil || Stale(c, now) {
					stale = append(stale, string(k))
				}
				after = append(after[:0], k...)
			}
			return nil
		})
		if err != nil || !more {
			return stale, err
		}
		// A sweep is background work: let a webhook waiting for the processor go first.
		runtime.Gosched()
	}
}

// stateAndSince decodes only a stored call's state and time, which say whether it is stale.
// It reads them straight from the encoding (json.Marshal of a Call: one flat object, so a
// quote after '{' or ',' opens a key), and falls back to decoding when they are not plain.
func stateAndSince(v []byte) (Call, error) {
	st, ok1 := plainField(v, `"s":"`)
	at, ok2 := plainField(v, `"at":"`)
	if ok1 && ok2 {
		if since, err := time.Parse(time.RFC3339Nano, string(at)); err == nil {
			return Call{State: State(st), Since: since}, nil
		}
	}
	var c struct {
		State State     `json:"s"`
		Since time.Time `json:"at"`
	}
	err := json.Unmarshal(v, &c)
	return Call{State: c.State, Since: c.Since}, err
}

// plainField returns the string value of key (`"name":"`) in the flat JSON object v, when
// the key occurs once as a key and its value has no escapes.
func plainField(v []byte, key string) ([]byte, bool) {
	i := bytes.Index(v, []byte(key))
	if i < 1 || (v[i-1] != '{' && v[i-1] != ',') {
		return nil, false
	}
	rest := v[i+len(key):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return nil, false
	}
	return rest[:end], true
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

package roster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BoltFile is the name of the bolt file in the data directory.
const BoltFile = "roster.db"

var (
	bucketCalls = []byte("calls") // CallSid → JSON Call
	bucketLive  = []byte("live")  // TopicID 0x00 CallSid → nothing, for calls not ended
)

// Bolt is a Store in an embedded bbolt file. Each update is on disk before Update returns.
// Updates are group-committed: one that arrives while the store is idle commits at once;
// those that arrive during a commit wait for it and then share the next one, so that one
// fsync serves every webhook in flight.
type Bolt struct {
	db      *bolt.DB
	pending chan boltOp
	quit    chan struct{}
	stopped chan struct{}
	closing sync.Once
}

// boltOp is one update waiting for the next commit.
type boltOp struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// maxGroup bounds how many updates share one commit.
const maxGroup = 512

// gatherWindow is how long a commit of a lone update waits for more.
var gatherWindow = 500 * time.Microsecond

var _ Store = (*Bolt)(nil)

// OpenBolt opens (creating if need be) the roster file in dir.
func OpenBolt(dir string) (*Bolt, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, BoltFile), 0o600, &bolt.Options{
		Timeout: 2 * time.Second,
		// The freelist is rebuilt from the pages when the file is opened instead of being
		// written with every commit: commits write and sync less, and nothing is lost, as the
		// freelist only says which pages are free.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("open bolt file: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketCalls, bucketLive} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("create buckets: %w", err)
	}
	b := &Bolt{db: db, pending: make(chan boltOp, maxGroup), quit: make(chan struct{}), stopped: make(chan struct{})}
	go b.commitLoop()
	return b, nil
}

// commitLoop commits pending updates, as many as are waiting, one transaction at a time.
func (b *Bolt) commitLoop() {
	defer close(b.stopped)
	group := make([]boltOp, 0, maxGroup)
	for {
		select {
		case <-b.quit:
			return
		case op := <-b.pending:
			group = append(group[:0], op)
		}
		// Under load, updates queue while a commit runs and the next commit takes them all.
		// A lone update waits a moment for company: webhooks in flight arrive within moments
		// of each other, and would otherwise split into a group of one and a group of the rest.
	drain:
		for len(group) < maxGroup {
			select {
			case op := <-b.pending:
				group = append(group, op)
			default:
				break drain
			}
		}
		if len(group) == 1 {
			window := time.NewTimer(gatherWindow)
		collect:
			for len(group) < maxGroup {
				select {
				case op := <-b.pending:
					group = append(group, op)
				case <-window.C:
					break collect
				}
			}
			window.Stop()
		}
		b.commit(group)
	}
}

// commit runs a group in one transaction. An update whose function fails is answered with
// its error and the rest are committed without it.
func (b *Bolt) commit(group []boltOp) {
	for len(group) > 0 {
		failed := -1
		var opErr error
		err := b.db.Update(func(tx *bolt.Tx) error {
			for i, op := range group {
				if err := op.fn(tx); err != nil {
					failed, opErr = i, err
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, op := range group {
				op.done <- err
			}
			return
		}
		group[failed].done <- opErr
		group = append(group[:failed], group[failed+1:]...)
	}
}

// batch runs fn in the next group commit and returns once it is durable.
func (b *Bolt) batch(ctx context.Context, fn func(*bolt.Tx) error) error {
	op := boltOp{fn: fn, done: make(chan error, 1)}
	select {
	case b.pending <- op:
	case <-b.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, the update is committed or refused whatever ctx says: wait for it.
	select {
	case err := <-op.done:
		return err
	case <-b.stopped:
		select {
		case err := <-op.done:
			return err
		default:
			return ErrClosed
		}
	}
}

func liveKey(topicID, sid string) []byte {
	k := make([]byte, 0, len(topicID)+1+len(sid))
	k = append(k, topicID...)
	k = append(k, 0)
	return append(k, sid...)
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
	return b.batch(ctx, func(tx *bolt.Tx) error {
		calls, live := tx.Bucket(bucketCalls), tx.Bucket(bucketLive)
		u, err := updateCall(sid, calls.Get([]byte(sid)), fn)
		if err != nil || !u.save {
			return err
		}
		if err := calls.Put([]byte(sid), u.value); err != nil {
			return err
		}
		if u.found && u.before.State != Ended {
			if err := live.Delete(liveKey(u.before.TopicID, sid)); err != nil {
				return err
			}
		}
		if u.after.State != Ended {
			return live.Put(liveKey(u.after.TopicID, sid), nil)
		}
		return nil
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
	return b.live(liveKey(topicID, ""))
}

// Live implements Store.
func (b *Bolt) Live(ctx context.Context) ([]Call, error) {
	return b.live(nil)
}

func (b *Bolt) live(prefix []byte) ([]Call, error) {
	var out []Call
	err := b.db.View(func(tx *bolt.Tx) error {
		calls := tx.Bucket(bucketCalls)
		cur := tx.Bucket(bucketLive).Cursor()
		for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
			sid := k[bytes.IndexByte(k, 0)+1:]
			v := calls.Get(sid)
			if v == nil {
				continue
			}
			c, err := decodeCall(string(sid), v)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

// Sweep implements Store.
func (b *Bolt) Sweep(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := b.batch(ctx, func(tx *bolt.Tx) error {
		calls, live := tx.Bucket(bucketCalls), tx.Bucket(bucketLive)
		n = 0
		var gone []Call
		err := calls.ForEach(func(k, v []byte) error {
			c, err := decodeCall(string(k), v)
			if err != nil {
				c = Call{CallSID: string(k), State: Ended} // unreadable: drop it
			}
			if err != nil || Stale(c, now) {
				gone = append(gone, c)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, c := range gone {
			if err := calls.Delete([]byte(c.CallSID)); err != nil {
				return err
			}
			if c.State != Ended {
				if err := live.Delete(liveKey(c.TopicID, c.CallSID)); err != nil {
					return err
				}
			}
		}
		n = len(gone)
		return nil
	})
	return n, err
}

// Ping implements Store.
func (b *Bolt) Ping(ctx context.Context) error {
	return b.db.View(func(*bolt.Tx) error { return nil })
}

// Close implements Store: it commits what is queued, then closes the file.
func (b *Bolt) Close() error {
	b.closing.Do(func() {
		close(b.quit)
		<-b.stopped
		// Answer anything queued after the last group.
		for {
			select {
			case op := <-b.pending:
				b.commit([]boltOp{op})
				continue
			default:
			}
			break
		}
	})
	return b.db.Close()
}

package roster

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"time"

	bolt "go.etcd.io/bbolt"
)

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

package roster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/gofrs/flock"
	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"
)

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
	if err := b.buildIndex(db); err != nil {
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

// lockDir takes the directory's lock (flock(2), through gofrs/flock), or fails at once if
// another process holds it.
func lockDir(dir string) (*flock.Flock, error) {
	lock := flock.New(filepath.Join(dir, lockFile), flock.SetPermissions(0o600))
	locked, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if !locked {
		return nil, fmt.Errorf("data dir %s is in use by another process", dir)
	}
	return lock, nil
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

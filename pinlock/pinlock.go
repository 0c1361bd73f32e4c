// Package pinlock counts wrong PINs per caller number, across calls, and locks out a number
// that enters too many: MaxWrong within Window locks it out for LockFor. Memory counts on
// one instance; Redis shares the count between instances.
package pinlock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// The lockout rule (contract §7).
const (
	MaxWrong = 10
	Window   = 15 * time.Minute
	LockFor  = 15 * time.Minute
)

// maxNumbers bounds how many numbers Memory remembers at once; the least recently seen go
// first.
const maxNumbers = 100_000

// Memory counts wrong PINs in this process.
type Memory struct {
	now   func() time.Time
	mu    sync.Mutex
	fails *expirable.LRU[string, []time.Time]
	locks *expirable.LRU[string, time.Time]
}

// NewMemory returns a counter of this process alone.
func NewMemory() *Memory {
	return &Memory{
		now:   time.Now,
		fails: expirable.NewLRU[string, []time.Time](maxNumbers, nil, Window),
		locks: expirable.NewLRU[string, time.Time](maxNumbers, nil, LockFor),
	}
}

// Locked reports whether number is locked out now.
func (m *Memory) Locked(_ context.Context, number string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	until, ok := m.locks.Get(key(number))
	return ok && m.now().Before(until), nil
}

// Wrong counts a wrong PIN from number. locked says whether the number is locked out now;
// lockedNow whether this PIN locked it.
func (m *Memory) Wrong(_ context.Context, number string) (locked, lockedNow bool, err error) {
	k := key(number)
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if until, ok := m.locks.Get(k); ok && now.Before(until) {
		return true, false, nil
	}
	prev, _ := m.fails.Get(k)
	recent := make([]time.Time, 0, MaxWrong)
	for _, t := range prev {
		if now.Sub(t) < Window {
			recent = append(recent, t)
		}
	}
	recent = append(recent, now)
	if len(recent) >= MaxWrong {
		m.fails.Remove(k)
		m.locks.Add(k, now.Add(LockFor))
		return true, true, nil
	}
	m.fails.Add(k, recent)
	return false, false, nil
}

// key is how a number is remembered: hashed, so that no store holds caller numbers.
func key(number string) string {
	sum := sha256.Sum256([]byte("dialin-bridge pin lockout\x00" + number))
	return hex.EncodeToString(sum[:16])
}

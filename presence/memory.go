package presence

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// DefaultMemory is how long the core remembers a call after the last event it showed of it,
// when Options.Memory is not set: longer than a call may last (contract §1's default
// DIALIN_MAX_CALL_DURATION of 4 h), so that a party shown online is remembered while it may
// be online.
const DefaultMemory = 5 * time.Hour

// memorySize bounds the calls the core remembers (about 200 bytes each). Beyond it the call
// shown least recently is forgotten first; forgetting a call costs at most a repeated online
// event at the next catch-up, or, for a party still shown online whose call the store lost
// as well, its retraction.
const memorySize = 1 << 17

// memory is the core's one memory of calls, the only one in the bridge: for each call, the
// last version this instance showed its room clients (published, or delivered from another
// instance), and the party as shown, while it was last shown online. It orders the events of
// each call shown to this instance's clients, drops the stale ones, and is what
// reconciliation retracts from and the catch-up compares with.
//
// It is bounded in calls and in time by an expiring LRU (hashicorp/golang-lru/v2/expirable,
// which expires calls from a goroutine of its own: one per core, for the life of the
// process). Calls being shown have a lock of their own, held while their event goes to the
// sinks (which never block), so that two events of one call are shown in the order of
// their versions and a slow sink delays no other call.
type memory struct {
	calls *expirable.LRU[string, shown]

	mu   sync.Mutex
	busy map[string]*callLock // calls whose events are being shown now
}

// shown is what this instance last showed its clients of a call.
type shown struct {
	version int64
	party   *mapper.Party // the party as shown online; nil when the last event was a leaves
}

type callLock struct {
	sync.Mutex
	users int // holders and waiters; guarded by memory.mu
}

// newMemory returns a memory of at most size calls, each forgotten ttl after it was last
// shown (DefaultMemory when ttl is not positive).
func newMemory(size int, ttl time.Duration) *memory {
	if ttl <= 0 {
		ttl = DefaultMemory
	}
	return &memory{calls: expirable.NewLRU[string, shown](size, nil, ttl), busy: make(map[string]*callLock)}
}

// lock takes call sid's lock; unlock lets it go.
func (m *memory) lock(sid string) *callLock {
	m.mu.Lock()
	l := m.busy[sid]
	if l == nil {
		l = &callLock{}
		m.busy[sid] = l
	}
	l.users++
	m.mu.Unlock()
	l.Lock()
	return l
}

func (m *memory) unlock(sid string, l *callLock) {
	l.Unlock()
	m.mu.Lock()
	if l.users--; l.users == 0 {
		delete(m.busy, sid)
	}
	m.mu.Unlock()
}

// show runs fn with the call's lock held if version is above the last version shown of the
// call, and remembers it as shown, with party when the event shows the call online (nil for
// a leaves). It reports whether it ran fn.
func (m *memory) show(sid string, version int64, party *mapper.Party, fn func()) bool {
	defer m.unlock(sid, m.lock(sid))
	if last, ok := m.calls.Peek(sid); ok && version <= last.version {
		return false
	}
	m.calls.Add(sid, shown{version: version, party: party})
	fn()
	return true
}

// current runs fn with the call's lock held unless a version above version was shown of
// the call, and remembers nothing: for the state of a call shown to one client only. It
// reports whether it ran fn.
func (m *memory) current(sid string, version int64, fn func()) bool {
	defer m.unlock(sid, m.lock(sid))
	if !m.latest(sid, version) {
		return false
	}
	fn()
	return true
}

// latest reports whether no version above version was shown of the call.
func (m *memory) latest(sid string, version int64) bool {
	last, ok := m.calls.Peek(sid)
	return !ok || version >= last.version
}

// retract runs fn with the call's lock held if the call was last shown online at version
// was, and remembers it as shown leaving at version to. It reports whether it ran fn, with
// the party as shown.
func (m *memory) retract(sid string, was, to int64, fn func(p mapper.Party)) bool {
	defer m.unlock(sid, m.lock(sid))
	last, ok := m.calls.Peek(sid)
	if !ok || last.party == nil || last.version != was {
		return false // it left, or changed, meanwhile
	}
	m.calls.Add(sid, shown{version: max(to, was+1)})
	fn(*last.party)
	return true
}

// online returns the calls last shown online, with the version shown.
func (m *memory) online() map[string]int64 {
	out := make(map[string]int64)
	for _, sid := range m.calls.Keys() {
		if s, ok := m.calls.Peek(sid); ok && s.party != nil {
			out[sid] = s.version
		}
	}
	return out
}

// version returns the last version shown of a call, 0 when none is remembered.
func (m *memory) version(sid string) int64 {
	s, _ := m.calls.Peek(sid)
	return s.version
}

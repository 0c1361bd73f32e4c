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
	// local: shown to this instance's clients alone, from the store (a catch-up or a
	// retraction), not published. This instance's own publication of the same version (a
	// change it stored and had not yet published) must still reach every sink.
	local bool
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

// publish runs fn with the call's lock held if version is above the last version shown of
// the call (or equal to it, if that was shown only locally: see shown.local), and
// remembers it as shown, with party when the event shows the call online (nil for a
// leaves). It is for this instance's own changes, handed to every sink. It reports whether
// it ran fn.
func (m *memory) publish(sid string, version int64, party *mapper.Party, fn func()) bool {
	defer m.unlock(sid, m.lock(sid))
	if last, ok := m.calls.Peek(sid); ok && (version < last.version || version == last.version && !last.local) {
		return false
	}
	m.calls.Add(sid, shown{version: version, party: party})
	fn()
	return true
}

// show runs fn with the call's lock held if version is above the last version shown of the
// call, and remembers it as shown: for an event another instance published. It reports
// whether it ran fn.
func (m *memory) show(sid string, version int64, party *mapper.Party, fn func()) bool {
	defer m.unlock(sid, m.lock(sid))
	if last, ok := m.calls.Peek(sid); ok && version <= last.version {
		return false
	}
	m.calls.Add(sid, shown{version: version, party: party})
	fn()
	return true
}

// catchUp runs fn with the call's lock held if version, read from the store, is above the
// last version shown of the call and shows something else than was shown: a change that
// owed no event (an admin's removal under way, say) also moves the call's version on, and
// is remembered without being shown. It remembers the version as shown locally. It reports
// whether it ran fn.
func (m *memory) catchUp(sid string, version int64, party *mapper.Party, fn func()) bool {
	defer m.unlock(sid, m.lock(sid))
	last, ok := m.calls.Peek(sid)
	if ok && version <= last.version {
		return false
	}
	m.calls.Add(sid, shown{version: version, party: party, local: true})
	if ok && last.party != nil && party != nil && sameParty(*last.party, *party) {
		return false
	}
	fn()
	return true
}

// sameParty reports whether two online events of a call show the same state.
func sameParty(a, b mapper.Party) bool {
	if (a.Speaking == nil) != (b.Speaking == nil) || a.Speaking != nil && *a.Speaking != *b.Speaking {
		return false
	}
	a.Speaking, b.Speaking, a.Version, b.Version = nil, nil, 0, 0
	return a == b
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
	m.calls.Add(sid, shown{version: max(to, was+1), local: true})
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

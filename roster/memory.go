package roster

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Memory is a Store in process memory. It is lost on restart: for tests and trials only.
type Memory struct {
	mu     sync.Mutex
	calls  map[string]Call
	closed bool
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{calls: make(map[string]Call)}
}

// Update implements Store.
func (m *Memory) Update(ctx context.Context, sid string, fn func(c *Call, found bool) bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	c, found := m.calls[sid]
	if !found {
		c = Call{CallSID: sid}
	}
	if fn(&c, found) {
		c.CallSID = sid
		m.calls[sid] = owned(c)
	}
	return nil
}

// owned is c with strings of its own: those a webhook hands in are slices of its whole body
// (see url.ParseQuery), which the stored call must not keep alive.
func owned(c Call) Call {
	for _, s := range []*string{&c.CallSID, &c.TopicID, &c.ConferenceSID, &c.Username, &c.DisplayName,
		&c.PictureURL, &c.Role, &c.Masked, &c.Reason} {
		*s = strings.Clone(*s)
	}
	return c
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, sid string) (Call, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Call{}, false, ErrClosed
	}
	c, ok := m.calls[sid]
	return c, ok, nil
}

// Topic implements Store.
func (m *Memory) Topic(ctx context.Context, topicID string) ([]Call, error) {
	return m.list(func(c Call) bool { return c.TopicID == topicID })
}

// Live implements Store.
func (m *Memory) Live(ctx context.Context) ([]Call, error) {
	return m.list(func(Call) bool { return true })
}

func (m *Memory) list(keep func(Call) bool) ([]Call, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	var out []Call
	for _, c := range m.calls {
		if c.State != Ended && keep(c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Sweep implements Store.
func (m *Memory) Sweep(ctx context.Context, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	n := 0
	for sid, c := range m.calls {
		if Stale(c, now) {
			delete(m.calls, sid)
			n++
		}
	}
	return n, nil
}

// Ping implements Store.
func (m *Memory) Ping(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	return nil
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

package presence

import (
	"sync"
	"time"

	"github.com/dialin-bridge/dialin-bridge/roster"
)

// Speaking changes per party that reach the room within any window of speechWindow.
const (
	speechLimit  = 4
	speechWindow = time.Second
)

// speech limits how often a party's speaking changes reach the room: at most speechLimit
// within speechWindow. A change over the limit waits for its turn, and only the party's
// latest waits: when the turn comes, the newest state is published (unless a newer change
// of the call, a mute for instance, went out meanwhile and showed it). So the last state
// always reaches the room. It is per instance: with several instances each limits what it
// publishes.
type speech struct {
	mu     sync.Mutex
	calls  map[string]*talker
	closed bool
	wg     sync.WaitGroup // timers on their way
}

type talker struct {
	sent    []time.Time    // when its last speaking changes went out, oldest first
	pending *roster.Change // the latest change waiting for its turn
	timer   *time.Timer
}

func (s *speech) init() { s.calls = map[string]*talker{} }

// admit reports whether ch may be published now. If not, it keeps ch and has publish
// called with the call's latest waiting change when its turn comes.
func (s *speech) admit(ch roster.Change, publish func(roster.Change)) bool {
	now := time.Now()
	sid := ch.Call.CallSID
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return true
	}
	t := s.calls[sid]
	if t == nil {
		t = &talker{}
		s.calls[sid] = t
	}
	t.prune(now)
	if len(t.sent) < speechLimit && t.pending == nil {
		t.sent = append(t.sent, now)
		return true
	}
	if t.pending == nil || ch.Call.Version > t.pending.Call.Version {
		t.pending = &ch
	}
	if t.timer == nil {
		wait := speechWindow
		if len(t.sent) > 0 {
			wait = t.sent[0].Add(speechWindow).Sub(now)
		}
		s.wg.Add(1)
		t.timer = time.AfterFunc(max(wait, time.Millisecond), func() {
			defer s.wg.Done()
			s.turn(sid, publish)
		})
	}
	return false
}

// turn publishes the call's waiting change, if any, when the window allows another.
func (s *speech) turn(sid string, publish func(roster.Change)) {
	now := time.Now()
	s.mu.Lock()
	t := s.calls[sid]
	if t == nil || s.closed {
		s.mu.Unlock()
		return
	}
	t.timer = nil
	t.prune(now)
	ch := t.pending
	if ch == nil {
		s.mu.Unlock()
		return
	}
	if len(t.sent) >= speechLimit { // not yet: wait for the oldest to leave the window
		s.wg.Add(1)
		t.timer = time.AfterFunc(max(t.sent[0].Add(speechWindow).Sub(now), time.Millisecond), func() {
			defer s.wg.Done()
			s.turn(sid, publish)
		})
		s.mu.Unlock()
		return
	}
	t.pending = nil
	t.sent = append(t.sent, now)
	s.mu.Unlock()
	publish(*ch)
}

// prune drops the changes that left the window.
func (t *talker) prune(now time.Time) {
	i := 0
	for i < len(t.sent) && !t.sent[i].After(now.Add(-speechWindow)) {
		i++
	}
	t.sent = t.sent[i:]
}

// forget drops a call that left: nothing of it waits any more.
func (s *speech) forget(sid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.calls[sid]; t != nil {
		if t.timer != nil && t.timer.Stop() {
			s.wg.Done()
		}
		delete(s.calls, sid)
	}
}

// close publishes every change still waiting for its turn (a party's last state always
// reaches the room, a shutdown's too), and waits for those on their way. It admits no more
// changes to wait: from then on each is published at once.
func (s *speech) close(publish func(roster.Change)) {
	s.mu.Lock()
	s.closed = true
	var last []roster.Change
	for sid, t := range s.calls {
		if t.timer != nil && t.timer.Stop() {
			s.wg.Done()
		}
		if t.pending != nil {
			last = append(last, *t.pending)
		}
		delete(s.calls, sid)
	}
	s.mu.Unlock()
	s.wg.Wait()
	for _, ch := range last {
		publish(ch)
	}
}

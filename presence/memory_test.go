package presence

import (
	"fmt"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// TestMemoryBounded: the core's memory of calls holds at most its size in calls, forgetting
// the least recently shown first, and forgets every call its time after it was last shown
// (issue 19, finding 9: one memory, bounded in entries and time).
func TestMemoryBounded(t *testing.T) {
	const size = 100
	m := newMemory(size, 300*time.Millisecond)
	p := &mapper.Party{DisplayName: "x"}
	for i := range size + 10 {
		m.show(fmt.Sprintf("CA%d", i), 1, p, func() {})
	}
	if n := m.calls.Len(); n != size {
		t.Errorf("%d calls remembered; want at most %d", n, size)
	}
	if m.version("CA0") != 0 || m.version(fmt.Sprintf("CA%d", size+9)) != 1 {
		t.Error("the least recently shown call was not the one forgotten")
	}
	time.Sleep(400 * time.Millisecond)
	if n := len(m.online()); n != 0 {
		t.Errorf("%d calls still shown online after the memory's time", n)
	}
}

// TestOneMemory: what this instance shows its clients, from any source, is one memory: an
// event delivered from another instance makes an older state of the call stale for the
// room side's answers, for the fan-out and for the platform's writer alike, and is what
// reconciliation may retract.
func TestOneMemory(t *testing.T) {
	c := New(Options{})
	online := func(v int64) mapper.Event {
		return mapper.Online(mapper.Party{CallSID: "CA1", TopicID: "T1", DisplayName: "Ann", Version: v}, "x")
	}
	ran := func(f func(func()) bool) bool { return f(func() {}) }
	if !ran(func(show func()) bool { return c.Deliver(online(5), show) }) {
		t.Fatal("a first event from another instance was not shown")
	}
	if c.Current("CA1", 4) {
		t.Error("the platform's writer would publish version 4 after version 5 was shown")
	}
	if ran(func(show func()) bool { return c.Replay(online(4), show) }) {
		t.Error("an answer read at version 4 was shown after version 5")
	}
	if ran(func(show func()) bool { return c.Deliver(online(4), show) }) {
		t.Error("a late event of version 4 from another instance was shown after version 5")
	}
	if !ran(func(show func()) bool { return c.Replay(online(5), show) }) {
		t.Error("an answer at the version shown was not shown")
	}
	if got := c.mem.online(); got["CA1"] != 5 {
		t.Errorf("shown online: %v; want CA1 at version 5", got)
	}
	leaves := mapper.Leaves(mapper.Party{CallSID: "CA1", TopicID: "T1", Version: 6}, "y")
	if !ran(func(show func()) bool { return c.Deliver(leaves, show) }) || !c.Current("CA1", 6) {
		t.Error("the leaves was not shown")
	}
	if got := c.mem.online(); len(got) != 0 {
		t.Errorf("shown online after its leaves: %v", got)
	}
}

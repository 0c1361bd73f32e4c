package sio

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	eio "github.com/googollee/go-socket.io/engineio/session"
)

// recordingConn is a net.Conn that records each Write it is given.
type recordingConn struct {
	net.Conn
	mu        sync.Mutex
	writes    []string
	deadlines []time.Time // the write deadline in force at each write
	deadline  time.Time
	fail      error
	closed    bool
}

func (c *recordingConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return nil
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return 0, c.fail
	}
	c.writes = append(c.writes, string(p))
	c.deadlines = append(c.deadlines, c.deadline)
	return len(p), nil
}

func (c *recordingConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func TestCorkGathersWrites(t *testing.T) {
	rec := &recordingConn{}
	c := &corkConn{Conn: rec}
	c.Write([]byte("a"))
	c.Cork()
	c.Write([]byte("b"))
	c.Write([]byte("c"))
	if len(rec.writes) != 1 {
		t.Fatalf("corked writes reached the connection: %q", rec.writes)
	}
	if err := c.Uncork(); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("d"))
	want := []string{"a", "bc", "d"}
	if fmt.Sprint(rec.writes) != fmt.Sprint(want) {
		t.Errorf("writes = %q; want %q", rec.writes, want)
	}
}

// TestCorkedDeadline: held-back frames leave under the latest deadline asked for while
// corked, not under a shorter one set for a control frame in between.
func TestCorkedDeadline(t *testing.T) {
	rec := &recordingConn{}
	c := &corkConn{Conn: rec}
	long := time.Now().Add(15 * time.Second)
	c.Cork()
	c.SetWriteDeadline(long)
	c.Write([]byte("frame"))
	c.SetWriteDeadline(time.Now().Add(time.Second)) // a control frame's, the last one set
	c.Write([]byte("pong"))
	if err := c.Uncork(); err != nil {
		t.Fatal(err)
	}
	if len(rec.deadlines) != 1 || !rec.deadlines[0].Equal(long) {
		t.Errorf("deadlines at the writes = %v; want one write under %v", rec.deadlines, long)
	}
	c.SetWriteDeadline(time.Time{})
	if !rec.deadline.IsZero() {
		t.Error("an uncorked connection did not pass the deadline on")
	}
}

func TestUncorkFailureClosesTheConnection(t *testing.T) {
	rec := &recordingConn{fail: errors.New("broken pipe")}
	c := &corkConn{Conn: rec}
	c.Cork()
	c.Write([]byte("x"))
	if err := c.Uncork(); err == nil || !rec.closed {
		t.Errorf("Uncork = %v, closed %v; want the error and the connection closed", err, rec.closed)
	}
}

// fakeClient is a session whose frames are recorded; while gate is open-ended (nil) frames
// are written at once, else each waits for a value from gate.
type fakeClient struct {
	mu     sync.Mutex
	frames []string
	gate   chan struct{}
	closed chan struct{}
	once   sync.Once
}

func newFakeClient(gate chan struct{}) *fakeClient {
	return &fakeClient{gate: gate, closed: make(chan struct{})}
}

func (f *fakeClient) NextWriter(eio.FrameType) (io.WriteCloser, error) {
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-f.closed:
			return nil, io.ErrClosedPipe
		}
	}
	return &fakeFrame{f: f}, nil
}

func (f *fakeClient) RemoteAddr() net.Addr { return &net.TCPAddr{} }

func (f *fakeClient) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

func (f *fakeClient) written() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.frames...)
}

type fakeFrame struct {
	f   *fakeClient
	buf strings.Builder
}

func (w *fakeFrame) Write(p []byte) (int, error) { return w.buf.Write(p) }

func (w *fakeFrame) Close() error {
	w.f.mu.Lock()
	w.f.frames = append(w.f.frames, w.buf.String())
	w.f.mu.Unlock()
	return nil
}

func TestOutboxWritesInOrderAndDrainsOnClose(t *testing.T) {
	f := newFakeClient(nil)
	o := newOutbox(1 << 20)
	go o.run(f)
	var want []string
	for i := range 500 {
		p := fmt.Sprintf("p%d", i)
		want = append(want, p)
		if !o.push([]byte(p)) {
			t.Fatalf("push %d refused", i)
		}
	}
	o.close()
	deadline := time.Now().Add(5 * time.Second)
	for len(f.written()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := f.written(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("frames = %d in %v...; want %d in order", len(got), got[:min(len(got), 5)], len(want))
	}
}

// TestOutboxRefusesAClientTooFarBehind: what a client that does not read holds is bounded
// in bytes, the batch its writer is stuck on included.
func TestOutboxRefusesAClientTooFarBehind(t *testing.T) {
	const limit = 1000
	gate := make(chan struct{})
	f := newFakeClient(gate)
	defer f.Close()
	o := newOutbox(limit)
	go o.run(f)
	defer o.close()
	// The writer takes the first packet and waits in NextWriter; it still counts.
	o.push([]byte(strings.Repeat("f", 100)))
	deadline := time.Now().Add(5 * time.Second)
	for {
		o.mu.Lock()
		taken := len(o.queue) == 0
		o.mu.Unlock()
		if taken || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for i := range 9 {
		if !o.push([]byte(strings.Repeat("p", 100))) {
			t.Fatalf("push %d refused with %d of %d bytes queued", i+2, (i+1)*100, limit)
		}
	}
	if o.push([]byte("x")) {
		t.Error("a client holding its limit in bytes was queued one more")
	}
	gate <- struct{}{} // the first packet is written: its bytes no longer count
	deadline = time.Now().Add(5 * time.Second)
	for !o.push([]byte(strings.Repeat("n", 100))) {
		if time.Now().After(deadline) {
			t.Fatal("the bytes of a written packet still count")
		}
		time.Sleep(time.Millisecond)
	}
}

// discardConn takes every write and keeps nothing.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }

// TestCorkReusesItsBuffer: a client writing batch after batch gathers them in a buffer it
// gives back between batches, not in a new one grown for each batch (which at saturation
// was half of all the bytes the bridge allocated), and holds none while idle.
func TestCorkReusesItsBuffer(t *testing.T) {
	c := &corkConn{Conn: discardConn{}}
	frame := make([]byte, 560) // a presence event and its frame
	batch := func() {
		c.Cork()
		for range 5 {
			c.Write(frame)
		}
		if err := c.Uncork(); err != nil {
			t.Fatal(err)
		}
	}
	batch()
	// Under the race detector sync.Pool drops a quarter of what it is given back at random,
	// so a few batches still allocate there; each one did, several times, before.
	if n := testing.AllocsPerRun(200, batch); n >= 1 {
		t.Errorf("%.2f allocations per batch; want the gathering buffer reused", n)
	}
	if c.gather != nil {
		t.Error("an uncorked connection still holds its gathering buffer")
	}
}

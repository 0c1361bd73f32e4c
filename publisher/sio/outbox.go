package sio

import (
	"io"
	"net"
	"sync"

	eio "github.com/googollee/go-socket.io/engineio/session"
)

// sessionWriter is what a client's writer needs of its Engine.IO session.
type sessionWriter interface {
	NextWriter(eio.FrameType) (io.WriteCloser, error)
	RemoteAddr() net.Addr
	Close() error
}

// outbox writes one client's packets, in order, on its own goroutine. Writing from the
// sender would let one stalled client (a polling client waits for its next poll) stall every
// webhook of its topic. Packets queued together are written together: on a websocket, in one
// system call.
//
// What it holds is bounded in bytes, the batch being written included: a client that falls
// further behind (stalled, or on a link too slow for its topic) is refused more, and its
// connection is closed, rather than allowed to hold memory or anyone else up.
type outbox struct {
	limit int

	mu     sync.Mutex
	queue  [][]byte
	spare  [][]byte
	bytes  int // queued or being written
	closed bool
	pushed int // packets ever queued
	wake   chan struct{}
}

func newOutbox(limit int) *outbox {
	return &outbox{limit: limit, wake: make(chan struct{}, 1)}
}

// push queues a packet. It reports false when the client is too far behind.
func (o *outbox) push(p []byte) bool {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return true
	}
	if o.bytes+len(p) > o.limit {
		o.mu.Unlock()
		return false
	}
	o.queue = append(o.queue, p)
	o.bytes += len(p)
	o.pushed++
	o.mu.Unlock()
	o.signal()
	return true
}

// close ends the writer once the queued packets are written.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.signal()
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// take returns the queued packets and whether the outbox is closed.
func (o *outbox) take() ([][]byte, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	batch := o.queue
	o.queue = o.spare[:0]
	o.spare = nil
	return batch, o.closed
}

// keptBatch is the largest batch slice kept for reuse, so that a client that once fell far
// behind does not hold a long slice for good.
const keptBatch = 64

// done hands back a written batch: its bytes no longer count, and its slice is reused.
func (o *outbox) done(batch [][]byte) {
	n := 0
	for _, p := range batch {
		n += len(p)
	}
	clear(batch)
	o.mu.Lock()
	o.bytes -= n
	if cap(batch) <= keptBatch {
		o.spare = batch[:0]
	}
	o.mu.Unlock()
}

// run writes until the outbox is closed and drained.
func (o *outbox) run(conn sessionWriter) {
	broken := false
	for range o.wake {
		batch, closed := o.take()
		if !broken && len(batch) > 0 {
			if err := writeBatch(conn, batch); err != nil {
				// The connection is gone; closing it ends its read loop, which closes the outbox.
				broken = true
				conn.Close()
			}
		}
		o.done(batch)
		if closed {
			return
		}
	}
}

// writeBatch writes packets as Engine.IO message frames; several are gathered into one write
// where the transport allows.
func writeBatch(conn sessionWriter, batch [][]byte) (err error) {
	if c := corkOf(conn.RemoteAddr()); c != nil && len(batch) > 1 {
		c.Cork()
		defer func() {
			if uerr := c.Uncork(); err == nil {
				err = uerr
			}
		}()
	}
	for _, p := range batch {
		w, err := conn.NextWriter(eio.TEXT)
		if err != nil {
			return err
		}
		_, err = w.Write(p)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// queued is how many packets were ever queued.
func (o *outbox) queued() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pushed
}

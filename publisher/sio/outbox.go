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

// outbox writes one client's packets, in order, from a goroutine of its own. Writing from
// the sender would let one stalled client (a polling client waits for its next poll) stall
// every webhook of its topic. Packets queued together are written together: on a websocket,
// in one system call. The writer runs only while packets wait: an idle client holds no
// goroutine (nor its stack) for writing.
//
// What it holds is bounded in bytes, the batch being written included: a client that falls
// further behind (stalled, or on a link too slow for its topic) is refused more, and its
// connection is closed, rather than allowed to hold memory or anyone else up.
type outbox struct {
	limit   int
	writers sync.WaitGroup

	mu      sync.Mutex
	conn    sessionWriter // from run; nil before
	queue   [][]byte
	spare   [][]byte
	bytes   int // queued or being written
	closed  bool
	writing bool // a writer is running
	broken  bool // a write failed: what is queued is dropped
	pushed  int  // packets ever queued
}

func newOutbox(limit int) *outbox {
	return &outbox{limit: limit}
}

// push queues a packet. It reports false when the client is too far behind.
func (o *outbox) push(p []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return true
	}
	if o.bytes+len(p) > o.limit {
		return false
	}
	o.queue = append(o.queue, p)
	o.bytes += len(p)
	o.pushed++
	o.kick()
	return true
}

// run hands the outbox its connection: from then on what is queued is written.
func (o *outbox) run(conn sessionWriter) {
	o.mu.Lock()
	o.conn = conn
	o.kick()
	o.mu.Unlock()
}

// kick starts a writer if packets wait and none runs. o.mu is held.
func (o *outbox) kick() {
	if o.conn == nil || o.writing || len(o.queue) == 0 {
		return
	}
	o.writing = true
	o.writers.Add(1)
	go o.write()
}

// close takes no more packets; those queued are still written.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
}

// wait waits for the writer, after close.
func (o *outbox) wait() { o.writers.Wait() }

// take returns the queued packets, or reports that there are none and the writer stops.
func (o *outbox) take() ([][]byte, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.queue) == 0 {
		o.writing = false
		return nil, false
	}
	batch := o.queue
	o.queue = o.spare[:0]
	o.spare = nil
	return batch, true
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

// write writes until nothing is queued.
func (o *outbox) write() {
	defer o.writers.Done()
	for {
		batch, ok := o.take()
		if !ok {
			return
		}
		o.mu.Lock()
		broken := o.broken
		o.mu.Unlock()
		if !broken {
			if err := writeBatch(o.conn, batch); err != nil {
				// The connection is gone; closing it ends its read loop, which closes the outbox.
				o.mu.Lock()
				o.broken = true
				o.mu.Unlock()
				o.conn.Close()
			}
		}
		o.done(batch)
	}
}

// writeBatch writes packets as Engine.IO message frames; several are gathered into one write
// where the transport allows.
func writeBatch(conn sessionWriter, batch [][]byte) (err error) {
	if len(batch) == 1 {
		return writePacket(conn, batch[0])
	}
	if c := corkOf(conn.RemoteAddr()); c != nil {
		c.Cork()
		defer func() {
			if uerr := c.Uncork(); err == nil {
				err = uerr
			}
		}()
	}
	for _, p := range batch {
		if err := writePacket(conn, p); err != nil {
			return err
		}
	}
	return nil
}

// writePacket writes one packet as an Engine.IO message frame.
func writePacket(conn sessionWriter, p []byte) error {
	w, err := conn.NextWriter(eio.TEXT)
	if err != nil {
		return err
	}
	_, err = w.Write(p)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// queued is how many packets were ever queued.
func (o *outbox) queued() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pushed
}

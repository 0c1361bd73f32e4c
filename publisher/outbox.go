package publisher

import (
	"io"
	"net"
	"sync"

	eio "github.com/googollee/go-socket.io/engineio/session"
)

// outboxSize bounds the packets waiting to be written to one client. A client that falls
// this far behind (stalled, or on a link too slow for its topic) is disconnected rather
// than allowed to hold anyone else up.
const outboxSize = 1024

// clientConn is what a client's writer needs of its socket.io connection: go-socket.io's
// connection passes its Engine.IO session's frame writer through.
type clientConn interface {
	NextWriter(eio.FrameType) (io.WriteCloser, error)
	RemoteAddr() net.Addr
	Close() error
}

// outbox writes one client's packets, in order, on its own goroutine. Writing from the
// sender would let one stalled client (a polling client waits for its next poll) stall every
// webhook of its topic. Packets queued together are written together: on a websocket, in one
// system call.
type outbox struct {
	mu     sync.Mutex
	queue  [][]byte
	spare  [][]byte
	closed bool
	pushed int // packets ever queued
	wake   chan struct{}
}

func newOutbox(conn clientConn) *outbox {
	o := &outbox{wake: make(chan struct{}, 1)}
	go o.run(conn)
	return o
}

// push queues a packet. It reports false when the client is too far behind.
func (o *outbox) push(p []byte) bool {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return true
	}
	if len(o.queue) >= outboxSize {
		o.mu.Unlock()
		return false
	}
	o.queue = append(o.queue, p)
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

// done hands back a written batch's slice for reuse.
func (o *outbox) done(batch [][]byte) {
	clear(batch)
	o.mu.Lock()
	if cap(batch) <= keptBatch {
		o.spare = batch[:0]
	}
	o.mu.Unlock()
}

func (o *outbox) run(conn clientConn) {
	broken := false
	for range o.wake {
		batch, closed := o.take()
		if !broken && len(batch) > 0 {
			if err := writeBatch(conn, batch); err != nil {
				// The connection is gone; closing it tells the server, which closes the outbox.
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
func writeBatch(conn clientConn, batch [][]byte) (err error) {
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

// sendTo queues a packet for one session. A client too far behind is disconnected.
func (s *Server) sendTo(sess *session, p []byte) {
	if sess.out.push(p) {
		return
	}
	s.log.Warn("disconnecting a room client too far behind", "sub", sess.claims.Subject, "queued", outboxSize)
	// Not on the sender's goroutine: the disconnect sends the client's leaves, which must not
	// hold up the webhook or event that found it behind.
	go sess.conn.Close()
}

// subscribers returns the sessions subscribed to a topic.
func (s *Server) subscribers(topicID string) []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.byTopic[topicID]
	out := make([]*session, 0, len(set))
	for sess := range set {
		out = append(out, sess)
	}
	return out
}

// index adds or removes a session from a topic's subscribers.
func (s *Server) index(topicID string, sess *session, subscribed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.byTopic[topicID]
	if subscribed {
		if set == nil {
			set = make(map[*session]struct{})
			s.byTopic[topicID] = set
		}
		set[sess] = struct{}{}
		return
	}
	delete(set, sess)
	if len(set) == 0 {
		delete(s.byTopic, topicID)
	}
}

// queued is how many packets were ever queued.
func (o *outbox) queued() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pushed
}

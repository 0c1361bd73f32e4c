package publisher

import (
	socketio "github.com/googollee/go-socket.io"
)

// outboxSize bounds the events waiting to be written to one client. A client that falls this
// far behind (stalled, or on a link too slow for its topic) is disconnected rather than
// allowed to hold anyone else up.
const outboxSize = 1024

// outbox writes one client's events in order on its own goroutine. go-socket.io's Emit waits
// until the connection's writer is free, and a polling connection's writer waits for the
// client's next poll, so emitting from a webhook would let one stalled client stall every
// webhook of its topic.
type outbox struct {
	ch chan encoded
}

func newOutbox(conn socketio.Conn) *outbox {
	o := &outbox{ch: make(chan encoded, outboxSize)}
	go func() {
		for e := range o.ch {
			conn.Emit(EvPresenceResponse, e)
		}
	}()
	return o
}

// push queues an event for the client; the session's lock is held. It reports false when the
// client is too far behind.
func (o *outbox) push(e encoded) bool {
	select {
	case o.ch <- e:
		return true
	default:
		return false
	}
}

// close ends the writer once the queued events are written; the session's lock is held.
func (o *outbox) close() { close(o.ch) }

// send queues a PRESENCE_EVENT_RESPONSE for one session. A client too far behind is
// disconnected.
func (s *Server) sendTo(sess *session, e encoded) {
	sess.mu.Lock()
	ok := sess.closed || sess.out.push(e)
	sess.mu.Unlock()
	if !ok {
		s.log.Warn("disconnecting a room client too far behind", "sub", sess.claims.Subject, "queued", outboxSize)
		sess.conn.Close()
	}
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

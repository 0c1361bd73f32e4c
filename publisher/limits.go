package publisher

import (
	"context"
	"fmt"
)

// maxTwilioWaits is how many requests of one connection may wait on Twilio at once: one
// socket must not start unbounded work there (contract §3, Limits).
const maxTwilioWaits = 4

var errTooManyWaits = fmt.Sprintf("at most %d requests of a connection may wait on Twilio at once", maxTwilioWaits)

// waitOnTwilio takes one of the session's places for a request that waits on Twilio; it
// reports false when all are taken.
func (sess *session) waitOnTwilio() bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.twilio >= maxTwilioWaits {
		return false
	}
	sess.twilio++
	return true
}

func (sess *session) doneWithTwilio() {
	sess.mu.Lock()
	sess.twilio--
	sess.mu.Unlock()
}

// maxQueuedReplays is how many request.parties of one connection may wait for their answer:
// one for each topic it may subscribe to. They are answered one at a time, off its read
// loop (see queueReplay), so that one connection holds at most one goroutine and one store
// read for them, however many it sends.
const maxQueuedReplays = maxSubscriptions

var errTooManyReplays = fmt.Sprintf("at most %d requests for the parties of a connection may wait at once", maxQueuedReplays)

// canQueueReplay reports whether another request.parties of the session may wait. Called on
// its read loop, as queueReplay is: nothing else adds to the queue.
func (sess *session) canQueueReplay() bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return len(sess.replays) < maxQueuedReplays
}

// queueReplay has fn answer a request.parties after those the session sent before, on a
// goroutine of the server's that answers them one after the other and ends when none waits.
func (s *Server) queueReplay(sess *session, fn func(context.Context)) {
	sess.mu.Lock()
	sess.replays = append(sess.replays, fn)
	start := !sess.replaying
	sess.replaying = true
	sess.mu.Unlock()
	if !start {
		return
	}
	s.later(func(ctx context.Context) {
		for {
			sess.mu.Lock()
			if len(sess.replays) == 0 || ctx.Err() != nil {
				sess.replays, sess.replaying = nil, false
				sess.mu.Unlock()
				return
			}
			next := sess.replays[0]
			sess.replays[0] = nil
			sess.replays = sess.replays[1:]
			sess.mu.Unlock()
			next(ctx)
		}
	})
}

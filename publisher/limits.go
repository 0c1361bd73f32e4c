package publisher

import "fmt"

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

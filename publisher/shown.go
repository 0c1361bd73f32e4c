package publisher

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// ShownOnline returns the phone parties this instance's clients were last shown online, by
// call SID, with the version of the online event shown: what they believe, whatever the
// store now says. It is the instance's own memory, so it outlives a store that loses its
// data (a Redis restarted empty), though not a restart of the instance.
func (s *Server) ShownOnline() map[string]int64 {
	s.seen.mu.Lock()
	defer s.seen.mu.Unlock()
	out := make(map[string]int64)
	for call, v := range s.seen.seen {
		if v.online != nil {
			out[call] = v.v
		}
	}
	return out
}

// Retract shows this instance's own clients the leaves of call callSID, if they were last
// shown it online at version shown, and reports whether it did. The leaves goes to no other
// instance: each instance retracts what its own clients were shown, so each client gets
// one. It takes the version atLeast (the call's version in the store, 0 when the store lost
// the call) if that is above the one shown, so that the same leaves arriving later from
// another instance is dropped as stale; any later event of the call, whose version is
// higher, is delivered.
func (s *Server) Retract(callSID string, shown, atLeast int64) bool {
	s.seen.mu.Lock()
	v, ok := s.seen.seen[callSID]
	if !ok || v.online == nil || v.v != shown {
		s.seen.mu.Unlock()
		return false // it left, or changed, meanwhile
	}
	var ev mapper.Event
	if err := json.Unmarshal(v.online, &ev); err != nil {
		s.seen.mu.Unlock()
		s.log.Error("decode shown event", "err", err)
		return false
	}
	s.seen.seen[callSID] = seenVersion{v: max(v.v+1, atLeast), at: time.Now(), topic: v.topic}
	s.seen.mu.Unlock()

	leaves := mapper.Leaves(mapper.PartyOf(ev), uuid.NewString())
	b, err := json.Marshal(leaves)
	if err != nil {
		s.log.Error("encode event", "err", err)
		return false
	}
	s.deliverLocal(leaves.TopicID, b)
	return true
}

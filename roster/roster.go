// Package roster keeps who is on which topic: one record per phone call, from the incoming-call
// webhook until well after the call ends. It owns the call state machine (sequence numbers,
// "exactly one leaves") and the stores that hold it: bolt (the default, durable), memory
// (tests) and Redis (several instances).
package roster

import (
	"context"
	"errors"
	"time"
)

// State is where a call stands.
type State string

// The states of a call. A call moves Routing → Online → Ended, or Routing → Ended; a call
// of a topic with a lobby goes Routing → Waiting first, and from there back to Routing when
// an admin admits it, or to Ended. Ended is final and is kept as a tombstone so that late callbacks change nothing.
const (
	Routing State = "routing" // the incoming-call webhook saw it; not in the conference yet
	Dialing State = "dialing" // a dial-out placed and not answered: shown ringing once Twilio says so
	Waiting State = "waiting" // in its topic's lobby, until an admin admits it (then Routing)
	Online  State = "online"  // in the topic's conference: the room shows it
	Ended   State = "ended"   // gone; nothing is emitted for it any more
)

// Identity is how the room shows a caller.
type Identity struct {
	Username    string `json:"u,omitempty"`
	DisplayName string `json:"d,omitempty"`
	PictureURL  string `json:"p,omitempty"`
	Role        string `json:"r,omitempty"`
	// Masked is the caller's number as it may appear in logs.
	Masked string `json:"m,omitempty"`
	// Directory is true for a caller the rooms file's directory names.
	Directory bool `json:"k,omitempty"`
}

// Call is the roster's record of one phone call.
type Call struct {
	CallSID       string `json:"-"`
	TopicID       string `json:"t,omitempty"`
	ConferenceSID string `json:"c,omitempty"`
	Identity
	State    State `json:"s"`
	Muted    bool  `json:"mu,omitempty"`
	OnHold   bool  `json:"h,omitempty"`
	Speaking bool  `json:"sp,omitempty"`
	// DialOut marks a call the bridge placed (its identity is the dialled party's); Rang
	// that Twilio reported it initiated or ringing, so the room may be shown it.
	DialOut bool `json:"do,omitempty"`
	Rang    bool `json:"rg,omitempty"`
	// Removing marks a call an admin asked to remove; its leaves says removed, however its
	// end is learnt.
	Removing bool `json:"rm,omitempty"`
	// Admitted marks a call an admin let in from its topic's lobby: routed again, it must not
	// be put back in the lobby by a redirect of the lobby's own that crossed Twilio's move.
	Admitted bool `json:"ad,omitempty"`
	// RemovingAt is when Removing was set, by the clock of the instance that set it (zero in
	// records written before it was kept).
	RemovingAt time.Time `json:"rmt,omitzero"`
	// Reason is why an ended call left (one of mapper's Reason values).
	Reason string `json:"rs,omitempty"`
	// ConfSeq is the SequenceNumber of the last conference callback applied, valid when
	// ConfSeen; CallSeq likewise for call status callbacks. The two streams are numbered
	// independently.
	ConfSeq  int64 `json:"cs,omitempty"`
	ConfSeen bool  `json:"cn,omitempty"`
	CallSeq  int64 `json:"ss,omitempty"`
	CallSeen bool  `json:"sn,omitempty"`
	// Since is when the call entered its current state.
	Since time.Time `json:"at"`
	// Version grows with each stored change (see nextVersion). It orders the call's events
	// across instances: an event of a lower version than one already delivered is stale.
	Version int64 `json:"v,omitempty"`
}

// nextVersion is a call's version after one more stored change at now: one more than before,
// and never less than now in microseconds. A count alone would restart at 1 when the store
// loses the call (a Redis restarted empty) and reconciliation rebuilds it, and every
// instance's stale-event filter, remembering the old count, would then drop the rebuilt
// call's events, its leaves included. A version that is also a clock cannot go back, as long
// as the instances' clocks disagree by less than the time between the call's last change
// before the loss and its rebuild (seconds at the very least: Redis must restart and a
// reconciliation run).
func nextVersion(v int64, now time.Time) int64 {
	return max(v+1, now.UnixMicro())
}

// ErrClosed marks an operation on a closed store.
var ErrClosed = errors.New("store closed")

// Store holds calls. Every implementation applies Update atomically per call: two updates of
// the same call, from this process or another sharing the store, never interleave.
type Store interface {
	// Update loads the call sid (a zero Call with CallSID set and found false when there is
	// none), lets fn change it, and stores the result when fn returns true. fn may run more
	// than once (a retried transaction) and must depend only on its arguments. Update returns
	// once the change is durable as far as the store goes.
	Update(ctx context.Context, sid string, fn func(c *Call, found bool) (save bool)) error
	// Get returns one call.
	Get(ctx context.Context, sid string) (Call, bool, error)
	// Topic returns the calls of a topic that have not ended, in no particular order.
	Topic(ctx context.Context, topicID string) ([]Call, error)
	// Live returns every call that has not ended, in no particular order.
	Live(ctx context.Context) ([]Call, error)
	// Sweep deletes the calls that are stale at now (see Stale) and reports how many went.
	Sweep(ctx context.Context, now time.Time) (int, error)
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	Close() error
}

// RoutingTTL is how long a call may stay routing (answered, never joined) before it is
// forgotten: a call whose end Twilio never reported, because the number has no status
// callback, must not stay in the store for ever.
const RoutingTTL = 12 * time.Hour

// Stale reports whether a call can be forgotten at now: ended longer ago than TombstoneTTL,
// or routing longer than RoutingTTL. Online calls are never stale; reconciliation ends them.
func Stale(c Call, now time.Time) bool {
	switch c.State {
	case Ended:
		return c.Since.Before(now.Add(-TombstoneTTL))
	case Routing, Dialing, Waiting:
		return c.Since.Before(now.Add(-RoutingTTL))
	}
	return false
}

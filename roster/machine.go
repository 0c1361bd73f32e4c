package roster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// Emit says which presence event a change calls for.
type Emit int

// What a change emits.
const (
	EmitNone   Emit = iota
	EmitOnline      // the call is (still) online, in a new state
	EmitLeaves      // the call left; its last event
)

func (e Emit) String() string {
	switch e {
	case EmitOnline:
		return "online"
	case EmitLeaves:
		return "leaves"
	}
	return "none"
}

// Change is the outcome of applying a callback: the call as it now is, the state it was in
// before, and the event owed. Call.Version orders a call's changes: of two changes of one
// call, the one with the higher version was stored later.
type Change struct {
	Call Call
	Was  State // the call's state before the change ("" for a call not stored before)
	Emit Emit
	// Fix is set by Reconcile on a change that corrects the roster: what was wrong and for
	// how long.
	Fix Correction
	// Speech marks an online call's change of who is speaking, and nothing else.
	Speech bool
}

// What reconciliation corrects (Correction.Kind).
const (
	Ghost  = "ghost"  // shown online, gone from Twilio
	Missed = "missed" // in Twilio's conference, not shown
)

// Correction is what reconciliation had to correct in a call, for the presence-accuracy
// metrics.
type Correction struct {
	Kind string // Ghost or Missed; empty when the change corrects nothing
	// Age is how long the roster had been wrong, as far as the bridge can tell: for a missed
	// party since Twilio created the participant, for a ghost since the bridge last heard of
	// the call. Negative when unknown.
	Age time.Duration
}

// LastHeard is when the bridge last stored a change of c: its Version is a clock in
// microseconds (see nextVersion), or, for a call stored before versions were, when it
// entered its state.
func LastHeard(c Call) time.Time {
	if c.Version > 0 {
		return time.UnixMicro(c.Version)
	}
	return c.Since
}

// Participant is one conference participant callback, which carries the participant's whole
// state. Leave marks participant-leave.
type Participant struct {
	ConferenceSID string
	TopicID       string // the conference's FriendlyName
	Seq           int64
	Muted         *bool // nil: unchanged
	OnHold        *bool // nil: unchanged
	Speaking      *bool // nil: unchanged
	Leave         bool
	// Reason is why a participant left, as Twilio's ReasonParticipantLeft and
	// ParticipantCallStatus say (a mapper Reason; empty: hung_up).
	Reason string
}

// Roster applies Twilio's callbacks to a Store and returns what each changed; it calls
// nothing back. The rules are the same whatever the store:
//   - a callback older (by SequenceNumber within its stream) than one already applied, or a
//     repeat of it, changes nothing;
//   - each call emits exactly one leaves, and only if it was online; nothing after it.
//
// Each change is one atomic Store.Update of the call, so the roster holds no lock of its
// own: the order of a call's changes is their Version, which its caller keeps when it
// hands them on.
type Roster struct {
	store Store
	now   func() time.Time
}

// New returns a Roster over store.
func New(store Store) *Roster {
	return &Roster{store: store, now: time.Now}
}

// change applies fn to call sid in one store update. fn changes the call and says whether
// to store it and which event that owes; a stored change gets the call's next Version (see
// nextVersion). The Change returned is the change stored, or the call as it is (owing
// nothing) when fn stored nothing.
func (r *Roster) change(ctx context.Context, sid string, fn func(c *Call, found bool) (save bool, emit Emit)) (Change, error) {
	// sid is often a slice of a webhook's whole body (url.ParseQuery slices it), and it is
	// kept for as long as the call is (the live index, the core's memory): a copy of its own
	// lets the body go.
	sid = strings.Clone(sid)
	var ch Change
	err := r.store.Update(ctx, sid, func(c *Call, found bool) bool {
		ch = Change{Call: *c}
		if found {
			ch.Was = c.State
		}
		save, emit := fn(c, found)
		if !save {
			return false
		}
		c.Version = nextVersion(c.Version, r.now())
		ch.Call, ch.Emit = *c, emit
		return true
	})
	if errors.Is(err, ErrNotReplicated) {
		return Change{}, &Unreplicated{Change: ch, err: err}
	}
	if err != nil {
		return Change{}, err
	}
	return ch, nil
}

// Store returns the store under the roster.
func (r *Roster) Store() Store { return r.store }

// Admit records an incoming call routed to topicID (empty while the caller is still asked
// for a PIN) with the caller's identity. A call admitted before keeps the identity it had; a
// call that already joined or ended is left as it is.
func (r *Roster) Admit(ctx context.Context, sid, topicID string, id Identity) (Call, error) {
	ch, err := r.change(ctx, sid, func(c *Call, found bool) (bool, Emit) {
		if found && c.State != Routing {
			return false, EmitNone
		}
		if !found || c.DisplayName == "" {
			c.Identity = id
		}
		c.State, c.TopicID, c.Since = Routing, topicID, r.now()
		return true, EmitNone
	})
	if err != nil {
		return Call{}, fmt.Errorf("admit call: %w", err)
	}
	return ch.Call, nil
}

// Participant applies a participant-* conference callback for call sid. name names a call the
// store does not hold (one that reached the conference some other way, or whose incoming
// call was lost); when it is nil or returns nil, such a call is ignored.
func (r *Roster) Participant(ctx context.Context, sid string, p Participant, name Namer) (Change, error) {
	ch, known, err := r.participant(ctx, sid, p, nil)
	if err != nil || known || name == nil {
		return ch, err
	}
	// Not in the store: name it, and try again. A leave is stored too, as a tombstone, so
	// that a join delivered after it cannot bring the call online.
	id := name(ctx, sid, p.TopicID)
	if id == nil {
		return ch, nil
	}
	ch, _, err = r.participant(ctx, sid, p, id)
	return ch, err
}

// participant applies the callback, naming a call the store does not hold by fallback (nil:
// such a call is left alone). known is false only when the store does not hold the call
// and the callback is not too late for its conference anyway.
func (r *Roster) participant(ctx context.Context, sid string, p Participant, fallback *Identity) (ch Change, known bool, err error) {
	// A callback of a conference that ended after it changes nothing.
	if over, err := r.endedAfter(ctx, p.ConferenceSID, p.Seq); err != nil || over {
		return Change{}, true, err
	}
	speech := false
	ch, err = r.change(ctx, sid, func(c *Call, found bool) (bool, Emit) {
		// A call stored without a name (a dial-out whose ringing callback overtook the
		// bridge's record of whom it called, which then failed) is named as an unknown one.
		nameless := found && c.DisplayName == "" && c.State == Dialing
		known, speech = found && !nameless, false
		if !found || nameless {
			if fallback == nil {
				return false, EmitNone
			}
			c.Identity = *fallback
		}
		if !found {
			c.State = Routing
		}
		if c.State == Ended {
			return false, EmitNone
		}
		if c.ConferenceSID != "" && c.ConferenceSID != p.ConferenceSID {
			// A new conference numbers its callbacks afresh.
			c.ConfSeen = false
		}
		if c.ConfSeen && p.Seq <= c.ConfSeq {
			return false, EmitNone
		}
		c.ConferenceSID, c.ConfSeq, c.ConfSeen = p.ConferenceSID, p.Seq, true
		if c.TopicID == "" {
			c.TopicID = p.TopicID
		}
		was := *c
		if p.Muted != nil {
			c.Muted = *p.Muted
		}
		if p.OnHold != nil {
			c.OnHold = *p.OnHold
		}
		if p.Speaking != nil {
			c.Speaking = *p.Speaking
		}
		switch {
		case p.Leave:
			return true, r.end(c, was.State, leaveReason(was.State, p.Reason))
		case c.State == Routing || c.State == Dialing || c.State == Waiting:
			// A waiting call joins only once admitted: a join that crossed the admission's
			// store change joins all the same.
			c.State, c.Since = Online, r.now()
			return true, EmitOnline
		case was.Muted != c.Muted || was.OnHold != c.OnHold:
			return true, EmitOnline
		case was.Speaking != c.Speaking:
			speech = true
			return true, EmitOnline
		}
		return true, EmitNone
	})
	if err != nil {
		return Change{}, true, fmt.Errorf("apply participant callback: %w", err)
	}
	ch.Speech = speech && ch.Emit == EmitOnline
	if ch.Emit == EmitOnline && ch.Was != Online {
		return r.unlessEnded(ctx, sid, p, ch), true, nil
	}
	return ch, known, nil
}

// unlessEnded takes back a join that raced with its conference's end: conference-end records
// the end before it lists the calls to end, so a join stored after that listing sees the
// record here. The call was never shown online, so it ends without a leaves. The join stands
// if the record cannot be read (reconciliation ends the call later), as it is stored already
// and must be emitted.
func (r *Roster) unlessEnded(ctx context.Context, sid string, p Participant, joined Change) Change {
	if over, err := r.endedAfter(ctx, p.ConferenceSID, p.Seq); err != nil || !over {
		return joined
	}
	takenBack := false
	ch, err := r.change(ctx, sid, func(c *Call, _ bool) (bool, Emit) {
		takenBack = c.State == Online && c.ConferenceSID == p.ConferenceSID && c.Version == joined.Call.Version
		if !takenBack {
			return false, EmitNone
		}
		return true, r.end(c, Routing, mapper.ReasonConferenceEnded)
	})
	if err != nil || !takenBack {
		// The conference's end (or another change) came after the join and owes its own
		// event, of a higher version: the join stands before it.
		return joined
	}
	ch.Was = joined.Was
	return ch
}

// A conference's end is kept in the store as a record of its own, under its ConferenceSid
// (CF…, never a call's CA…): an ended Call whose ConfSeq is the end's SequenceNumber. Being
// ended, it is in no topic and expires with the tombstones.

// recordEnd stores that conference conferenceSID ended at seq.
func (r *Roster) recordEnd(ctx context.Context, conferenceSID string, seq int64) error {
	return r.store.Update(ctx, conferenceSID, func(c *Call, found bool) bool {
		if found && c.ConfSeen && c.ConfSeq >= seq {
			return false
		}
		c.ConferenceSID, c.State, c.Since = conferenceSID, Ended, r.now()
		c.ConfSeq, c.ConfSeen = seq, true
		return true
	})
}

// endedAfter reports whether conference conferenceSID ended at a SequenceNumber not older
// than seq: a callback of it numbered seq comes too late to change anything.
func (r *Roster) endedAfter(ctx context.Context, conferenceSID string, seq int64) (bool, error) {
	c, found, err := r.store.Get(ctx, conferenceSID)
	if err != nil {
		return false, fmt.Errorf("look up conference end: %w", err)
	}
	return found && c.State == Ended && c.ConfSeen && seq <= c.ConfSeq, nil
}

// ConferenceEnd applies conference-end: every call of the topic still in that conference
// leaves, and the end is recorded first, so that a participant callback of the conference
// older than its end, arriving later or meanwhile, changes nothing. It returns the changes
// that owe an event.
func (r *Roster) ConferenceEnd(ctx context.Context, topicID, conferenceSID string, seq int64) ([]Change, error) {
	if err := r.recordEnd(ctx, conferenceSID, seq); err != nil {
		return nil, fmt.Errorf("record conference end: %w", err)
	}
	calls, err := r.store.Topic(ctx, topicID)
	if err != nil {
		return nil, fmt.Errorf("list topic: %w", err)
	}
	var out []Change
	for _, call := range calls {
		if call.ConferenceSID != conferenceSID {
			continue
		}
		ch, err := r.change(ctx, call.CallSID, func(c *Call, found bool) (bool, Emit) {
			if !found || c.State == Ended || c.ConferenceSID != conferenceSID || (c.ConfSeen && seq <= c.ConfSeq) {
				return false, EmitNone
			}
			c.ConfSeq, c.ConfSeen = seq, true
			return true, r.end(c, c.State, mapper.ReasonConferenceEnded)
		})
		if err != nil {
			return out, fmt.Errorf("end conference: %w", err)
		}
		if ch.Emit != EmitNone {
			out = append(out, ch)
		}
	}
	return out, nil
}

// CallEnded applies a final call status (completed, busy, failed, no-answer, canceled) from
// the call's own status callbacks, whose sequence numbers are their own. A call the roster
// never saw is kept as ended so that a late conference callback cannot bring it online.
func (r *Roster) CallEnded(ctx context.Context, sid string, seq int64, status string) (Change, error) {
	ch, err := r.change(ctx, sid, func(c *Call, found bool) (bool, Emit) {
		if found && (c.State == Ended || (c.CallSeen && seq <= c.CallSeq)) {
			return false, EmitNone
		}
		c.CallSeq, c.CallSeen = seq, true
		return true, r.end(c, c.State, leaveReason(c.State, StatusReason(status)))
	})
	if err != nil {
		return Change{}, fmt.Errorf("end call: %w", err)
	}
	return ch, nil
}

// Vanished ends an online call that Twilio no longer lists in any conference in progress, as
// reconciliation finds. It ends the call only if it is still online at version, the version
// the store held before Twilio was asked: a call that changed since (it went online, or
// changed state, while Twilio was listing) is left alone, as the listing may predate it.
// Calls not online (still routing) are not Twilio participants and are left alone too.
func (r *Roster) Vanished(ctx context.Context, sid string, version int64) (Change, error) {
	ch, err := r.change(ctx, sid, func(c *Call, found bool) (bool, Emit) {
		if !found || c.State != Online || c.Version != version {
			return false, EmitNone
		}
		return true, r.end(c, c.State, mapper.ReasonLost)
	})
	if err != nil {
		return Change{}, fmt.Errorf("end vanished call: %w", err)
	}
	return ch, nil
}

// end moves c to Ended for reason (removed if an admin removed it) and says whether a
// leaves is owed: only for a call the room was shown (online, or a dial-out shown ringing).
func (r *Roster) end(c *Call, was State, reason string) Emit {
	c.State, c.Since = Ended, r.now()
	c.Reason = reason
	if c.Removing {
		c.Reason = mapper.ReasonRemoved
	}
	if was == Online || (was == Dialing && Shown(*c)) {
		return EmitLeaves
	}
	return EmitNone
}

// Shown reports whether a dial-out is shown to the room while it rings: Twilio said it rings
// and the bridge has stored whom it called.
func Shown(c Call) bool { return c.DialOut && c.Rang && c.TopicID != "" }

// StatusReason is the reason a final CallStatus gives a call that never connected.
func StatusReason(status string) string {
	switch status {
	case "busy":
		return mapper.ReasonBusy
	case "no-answer":
		return mapper.ReasonNoAnswer
	case "failed":
		return mapper.ReasonFailed
	case "canceled":
		return mapper.ReasonCanceled
	}
	return mapper.ReasonHungUp
}

// leaveReason is why a call in state was left: reasons of a call that never connected apply
// only to one still dialing; a connected call that ended otherwise hung up.
func leaveReason(was State, reason string) string {
	switch reason {
	case mapper.ReasonBusy, mapper.ReasonNoAnswer, mapper.ReasonFailed, mapper.ReasonCanceled:
		if was != Dialing {
			return mapper.ReasonHungUp
		}
	case "":
		return mapper.ReasonHungUp
	}
	return reason
}

// Parties returns the calls of a topic the room is shown: online, or ringing.
func (r *Roster) Parties(ctx context.Context, topicID string) ([]Call, error) {
	calls, err := r.store.Topic(ctx, topicID)
	if err != nil {
		return nil, fmt.Errorf("list topic: %w", err)
	}
	out := calls[:0]
	for _, c := range calls {
		if c.State == Online || (c.State == Dialing && Shown(c)) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Get returns one call.
func (r *Roster) Get(ctx context.Context, sid string) (Call, bool, error) {
	return r.store.Get(ctx, sid)
}

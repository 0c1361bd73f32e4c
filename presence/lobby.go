package presence

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/roster"
)

// ErrNotWaiting marks a decision on a call that is not waiting in the topic's lobby.
var ErrNotWaiting = errors.New("no such caller waiting in the topic's lobby")

// LobbySink shows a lobby's changes to the topic's admins (and to no one else). Like Sink,
// it must not block.
type LobbySink interface {
	Lobby(ev mapper.LobbyEvent)
}

// LobbyTwilio is what the lobby needs of Twilio's REST API.
type LobbyTwilio interface {
	// Move gives a live call new TwiML.
	Move(ctx context.Context, callSID, twiml string) error
	// CallStatus is a call's status (completed, busy, failed, no-answer or canceled once over).
	CallStatus(ctx context.Context, callSID string) (string, error)
}

// LobbyOptions configure the lobbies of topics that have one.
type LobbyOptions struct {
	// Timeout is how long a caller may wait (DIALIN_LOBBY_TIMEOUT).
	Timeout time.Duration
	// Twilio moves and checks waiting calls; nil without credentials.
	Twilio LobbyTwilio
	// Admit is the TwiML that moves an admitted caller of a topic into its conference; Deny
	// and TimedOut what a caller hears before the call ends.
	Admit    func(ctx context.Context, topicID string) (string, error)
	Deny     func() (string, error)
	TimedOut func() (string, error)
	Sinks    []LobbySink
}

// lobby keeps when each waiting call this instance knows of runs out of time.
type lobby struct {
	mu        sync.Mutex
	deadlines map[string]time.Time // call SID → when it began waiting
}

func (l *lobby) watch(sid string, since time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.deadlines == nil {
		l.deadlines = make(map[string]time.Time)
	}
	l.deadlines[sid] = since
}

func (l *lobby) forget(sid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.deadlines, sid)
}

// due returns the calls that began waiting before cutoff.
func (l *lobby) due(cutoff time.Time) map[string]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]time.Time{}
	for sid, since := range l.deadlines {
		if !since.After(cutoff) {
			out[sid] = since
		}
	}
	return out
}

// Wait puts a routed call in its topic's lobby, or keeps it there, and returns the call as
// it now stands. A caller who arrives is announced to the topic's admins.
func (c *Core) Wait(ctx context.Context, sid, topicID string, id roster.Identity) (roster.Call, error) {
	ch, err := c.roster.Wait(ctx, sid, topicID, id)
	if err != nil {
		return roster.Call{}, err
	}
	if ch.Call.State == roster.Waiting {
		c.lobby.watch(sid, ch.Call.Since)
		if ch.Was != roster.Waiting {
			c.log.Info("caller waiting in the lobby", "call_sid", sid, "topic", topicID, "from", id.Masked)
			c.lobbyEvent(ch.Call, mapper.LobbyWaiting)
		}
	}
	return ch.Call, nil
}

// TimeOut ends the wait of a call waiting since since, and tells the admins it left. The
// caller is told by whoever calls it (the lobby's webhook, or expire through Twilio).
func (c *Core) TimeOut(ctx context.Context, sid string, since time.Time) (bool, error) {
	ch, expired, err := c.roster.Expire(ctx, sid, since)
	if err != nil {
		return false, err
	}
	c.lobby.forget(sid)
	if expired {
		c.log.Info("lobby wait ended unanswered", "call_sid", sid, "topic", ch.Call.TopicID)
		c.lobbyEvent(ch.Call, mapper.LobbyLeft)
	}
	return expired, nil
}

// Lobby returns the callers waiting in a topic's lobby, longest waiting first.
func (c *Core) Lobby(ctx context.Context, topicID string) ([]mapper.Waiting, error) {
	calls, err := c.roster.Store().Topic(ctx, topicID)
	if err != nil {
		return nil, fmt.Errorf("list topic: %w", err)
	}
	var waiting []roster.Call
	for _, call := range calls {
		if call.State == roster.Waiting {
			waiting = append(waiting, call)
		}
	}
	slices.SortFunc(waiting, func(a, b roster.Call) int { return a.Since.Compare(b.Since) })
	out := make([]mapper.Waiting, 0, len(waiting))
	for _, call := range waiting {
		out = append(out, mapper.Waiting{CallSID: call.CallSID, DisplayName: call.DisplayName, Since: mapper.Time(call.Since)})
	}
	return out, nil
}

// Decide admits a waiting caller of the topic (Twilio moves the call into the conference,
// where it joins as any dial-in) or denies it (Twilio tells it so and hangs up; it never was
// in the room, so no leaves follows). It returns ErrNotWaiting for a call not waiting in
// that topic's lobby.
func (c *Core) Decide(ctx context.Context, topicID, sid string, admit bool) error {
	lo := c.opts.Lobby
	if lo.Twilio == nil {
		return fmt.Errorf("move call: %w", ErrNoTwilio)
	}
	x, err := c.decision(ctx, topicID, admit)
	if err != nil {
		return err
	}
	before, found, err := c.roster.Get(ctx, sid)
	if err != nil {
		return fmt.Errorf("look up call: %w", err)
	}
	if !found || before.State != roster.Waiting || before.TopicID != topicID {
		return ErrNotWaiting
	}
	// The store changes first, so that the caller's next <Redirect>, or another instance,
	// sees the decision; a call Twilio would not move is put back.
	ch, waiting, err := c.roster.Decide(ctx, topicID, sid, admit)
	if err != nil {
		return err
	}
	if !waiting {
		return ErrNotWaiting
	}
	if err := lo.Twilio.Move(ctx, sid, x); err != nil {
		if admit {
			if _, uerr := c.roster.Undecide(ctx, sid, before.Since); uerr != nil {
				c.log.Error("an admitted call Twilio would not move stays out of the lobby", "call_sid", sid, "err", uerr)
			}
		}
		return twilioError(err)
	}
	c.lobby.forget(sid)
	state := mapper.LobbyDenied
	if admit {
		state = mapper.LobbyAdmitted
	}
	c.lobbyEvent(ch.Call, state)
	return nil
}

func (c *Core) decision(ctx context.Context, topicID string, admit bool) (string, error) {
	lo := c.opts.Lobby
	if admit {
		if lo.Admit == nil {
			return "", errors.New("no TwiML for an admitted caller")
		}
		return lo.Admit(ctx, topicID)
	}
	if lo.Deny == nil {
		return "", errors.New("no TwiML for a denied caller")
	}
	return lo.Deny()
}

// lobbyLeft tells the admins that a waiting caller hung up (its call ended).
func (c *Core) lobbyLeft(ch roster.Change) {
	if ch.Was == roster.Waiting && ch.Call.State == roster.Ended {
		c.lobby.forget(ch.Call.CallSID)
		c.lobbyEvent(ch.Call, mapper.LobbyLeft)
	}
}

// lobbyEvent shows a lobby change to the topic's admins.
func (c *Core) lobbyEvent(call roster.Call, state string) {
	ev := mapper.LobbyEvent{TopicID: call.TopicID, CallSID: call.CallSID, DisplayName: call.DisplayName,
		State: state, Since: mapper.Time(call.Since)}
	for _, s := range c.opts.Lobby.Sinks {
		s.Lobby(ev)
	}
}

// Connected returns the phone parties of a topic connected to its conference now (not those
// still ringing), for the roll call.
func (c *Core) Connected(ctx context.Context, topicID string) ([]roster.Call, error) {
	calls, err := c.roster.Parties(ctx, topicID)
	if err != nil {
		return nil, err
	}
	out := calls[:0]
	for _, call := range calls {
		if call.State == roster.Online {
			out = append(out, call)
		}
	}
	return out, nil
}

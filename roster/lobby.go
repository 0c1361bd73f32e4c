package roster

import (
	"context"
	"fmt"
	"time"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// A topic's lobby is kept in the store with the calls: a waiting caller is a call in state
// Waiting, so it survives a restart as every call does, and every instance sharing the store
// sees it.

// Wait puts call sid, routed to topicID, in the topic's lobby with the caller's identity.
// A call waiting already keeps its place (and when it began waiting); a call admitted,
// denied or gone is left as it is (an admitted call stays routed: a redirect of the lobby's
// that crossed Twilio's move joins it too). The Change says what the call was before.
func (r *Roster) Wait(ctx context.Context, sid, topicID string, id Identity) (Change, error) {
	ch, err := r.change(ctx, sid, func(c *Call, found bool) (bool, Emit) {
		if found && (c.State != Routing || c.Admitted) {
			return false, EmitNone
		}
		if !found || c.DisplayName == "" {
			c.Identity = id
		}
		if found && c.TopicID != "" && c.TopicID != topicID {
			return false, EmitNone
		}
		c.State, c.TopicID, c.Since = Waiting, topicID, r.now()
		return true, EmitNone
	})
	if err != nil {
		return Change{}, fmt.Errorf("wait in lobby: %w", err)
	}
	return ch, nil
}

// Decide lets a waiting call of topicID in (back to Routing, to join as any routed call) or
// ends it (denied). It returns the change and whether the call was waiting in that topic;
// a call that was not changes nothing.
func (r *Roster) Decide(ctx context.Context, topicID, sid string, admit bool) (Change, bool, error) {
	waiting := false
	ch, err := r.change(ctx, sid, func(c *Call, found bool) (bool, Emit) {
		waiting = found && c.State == Waiting && c.TopicID == topicID
		if !waiting {
			return false, EmitNone
		}
		if admit {
			c.State, c.Since, c.Admitted = Routing, r.now(), true
			return true, EmitNone
		}
		return true, r.end(c, c.State, mapper.ReasonRemoved)
	})
	if err != nil {
		return Change{}, false, fmt.Errorf("decide on waiting call: %w", err)
	}
	return ch, waiting, nil
}

// Undecide puts an admitted call back in the lobby, when Twilio would not move it: it is
// still waiting. It changes nothing if the call moved on meanwhile (it joined or ended).
func (r *Roster) Undecide(ctx context.Context, sid string, since time.Time) (Change, error) {
	ch, err := r.change(ctx, sid, func(c *Call, found bool) (bool, Emit) {
		if !found || c.State != Routing || c.ConfSeen {
			return false, EmitNone
		}
		c.State, c.Since, c.Admitted = Waiting, since, false
		return true, EmitNone
	})
	if err != nil {
		return Change{}, fmt.Errorf("put back in lobby: %w", err)
	}
	return ch, nil
}

// Expire ends the wait of call sid if it is still waiting since since (or earlier): its
// time in the lobby is up, or Twilio says its call is over. It reports the change, which
// owes no presence event (a waiting call was never in the room).
func (r *Roster) Expire(ctx context.Context, sid string, since time.Time) (Change, bool, error) {
	expired := false
	ch, err := r.change(ctx, sid, func(c *Call, found bool) (bool, Emit) {
		expired = found && c.State == Waiting && !c.Since.After(since)
		if !expired {
			return false, EmitNone
		}
		return true, r.end(c, c.State, mapper.ReasonHungUp)
	})
	if err != nil {
		return Change{}, false, fmt.Errorf("end lobby wait: %w", err)
	}
	return ch, expired, nil
}

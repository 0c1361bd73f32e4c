package platform

import (
	"context"
	"maps"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// After an outage of the platform's Redis (or an event lost while it answered), the writer
// publishes every party again, in rounds:
//   - every live party's current online, read from the shared store;
//   - the leaves of every party that left while events were not getting through;
//   - the leaves of every party a previous round showed online that is no longer live (it left
//     while the round was being published, possibly through another instance).
//
// Pub/sub keeps nothing, and the platform's nodes re-subscribe on their own schedule (node
// redis 3.x backs off by 1.7× per attempt, so after an outage of length d a node may take
// about as long again). So the rounds go on for ReplayFor plus the outage's length (at most
// maxReplay), and stop early once every round's publish is heard by as many subscribers as
// heard the last publish before the outage. A final round publishes only leaves, so that
// the last word on a party that left during the rounds is its leaves.
type episode struct {
	until    time.Time
	expected int64                   // subscribers before the outage; 0: unknown
	shown    map[string]mapper.Event // online events of the last round, by call
	rounds   int
}

// startReplay begins (or extends) publishing every party again after an outage of length
// down.
func (s *Sink) startReplay(ctx context.Context, down time.Duration) {
	until := time.Now().Add(min(s.o.ReplayFor+down, maxReplay))
	if s.replay == nil {
		s.replay = &episode{expected: s.receivers, shown: map[string]mapper.Event{}}
	}
	if until.After(s.replay.until) {
		s.replay.until = until
	}
	s.replayRound(ctx)
}

// replayRound publishes one round; see episode.
func (s *Sink) replayRound(ctx context.Context) {
	e := s.replay
	if !s.up.Load() {
		return // the watcher wakes the writer when it answers again
	}
	last := !time.Now().Before(e.until)
	heard := int64(math.MaxInt64)
	count := func(n int64) {
		if n < 0 {
			n = 0
		}
		heard = min(heard, n)
	}

	live := map[string]mapper.Event{}
	if !last {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		evs, err := s.ros.Live(lctx)
		cancel()
		if err != nil {
			s.o.Log.Warn("list live parties for the platform", "err", err)
			return // next round
		}
		for _, ev := range evs {
			live[ev.Sender.ID] = ev
			count(s.publish(ctx, item{ev: ev, kind: "replay"}))
		}
	} else {
		// The last round: are the parties shown online by the previous one still live?
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		evs, err := s.ros.Live(lctx)
		cancel()
		if err != nil {
			s.o.Log.Warn("list live parties for the platform", "err", err)
			return
		}
		for _, ev := range evs {
			live[ev.Sender.ID] = ev
		}
	}
	for sid, ev := range e.shown {
		if _, ok := live[sid]; !ok {
			count(s.publish(ctx, item{ev: leavesOf(ev), kind: "replay"}))
		}
	}
	e.shown = live
	s.mu.Lock()
	missed := maps.Clone(s.missed)
	s.mu.Unlock()
	for _, ev := range missed {
		count(s.publish(ctx, item{ev: withID(ev), kind: "replay"}))
	}
	e.rounds++

	switch {
	case last:
		s.endReplay(missed)
	case e.expected > 0 && heard != math.MaxInt64 && heard >= e.expected:
		// Every node that heard the bridge before hears it again: one last round, now.
		e.until = time.Now()
		s.replayRound(ctx)
	}
}

// endReplay ends the episode; the leaves it published are no longer owed, unless the
// platform's Redis went away again meanwhile (the watcher then starts another episode).
func (s *Sink) endReplay(published map[string]mapper.Event) {
	s.replay = nil
	if !s.up.Load() {
		return
	}
	s.mu.Lock()
	for sid := range published {
		delete(s.missed, sid)
	}
	s.mu.Unlock()
	s.o.Log.Info("platform caught up: parties published again")
}

// leavesOf is the leaves of a party last shown with online event ev.
func leavesOf(ev mapper.Event) mapper.Event {
	return mapper.Leaves(mapper.PartyOf(ev), uuid.NewString())
}

// withID is ev with a fresh _id: each event the platform's clients get has its own.
func withID(ev mapper.Event) mapper.Event {
	ev.ID = uuid.NewString()
	return ev
}

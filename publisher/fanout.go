package publisher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Fanout carries events between bridge instances, so that every room client sees every
// event of its topic whichever instance it is connected to. An instance delivers its own
// events to its own clients directly, and sends them through the fan-out for the others;
// what it receives back of its own it ignores.
type Fanout interface {
	Send(ctx context.Context, msg []byte) error
	// Run delivers every message sent by any instance until ctx is done.
	Run(ctx context.Context, deliver func(msg []byte))
	// Check reports whether a message sent now would come back: the subscription is live.
	Check(ctx context.Context) error
}

// envelope is an event on its way to every instance.
type envelope struct {
	Origin  string          `json:"o"` // the sending instance
	TopicID string          `json:"t"`
	CallSID string          `json:"c,omitempty"`
	Version int64           `json:"v,omitempty"`
	Online  bool            `json:"on,omitempty"` // a phone party's online event
	Lobby   string          `json:"l,omitempty"`  // a lobby event's topic (TopicID is empty)
	Payload json.RawMessage `json:"p"`
}

// RedisFanout is a Fanout over one Redis pub/sub channel.
type RedisFanout struct {
	rdb     redis.UniversalClient
	channel string
	probes  sync.Map // probe id → chan struct{}
}

// probePrefix marks a Check's message; events are JSON objects and never start with it.
const probePrefix = "probe:"

// NewRedisFanout returns a Fanout on channel.
func NewRedisFanout(rdb redis.UniversalClient, channel string) *RedisFanout {
	return &RedisFanout{rdb: rdb, channel: channel}
}

// Send implements Fanout.
func (f *RedisFanout) Send(ctx context.Context, msg []byte) error {
	return f.rdb.Publish(ctx, f.channel, msg).Err()
}

// Run implements Fanout. go-redis resubscribes by itself after a lost connection.
func (f *RedisFanout) Run(ctx context.Context, deliver func([]byte)) {
	ps := f.rdb.Subscribe(ctx, f.channel)
	defer ps.Close()
	ch := ps.Channel(redis.WithChannelSize(4096))
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			if id, isProbe := strings.CutPrefix(m.Payload, probePrefix); isProbe {
				if done, mine := f.probes.LoadAndDelete(id); mine {
					close(done.(chan struct{}))
				}
				continue
			}
			deliver([]byte(m.Payload))
		}
	}
}

// Check implements Fanout: it sends a probe and waits for it to come back. After Redis
// restarts, go-redis resubscribes a moment later; until then events would reach no one.
func (f *RedisFanout) Check(ctx context.Context) error {
	id := uuid.NewString()
	done := make(chan struct{})
	f.probes.Store(id, done)
	defer f.probes.Delete(id)
	if err := f.rdb.Publish(ctx, f.channel, probePrefix+id).Err(); err != nil {
		return fmt.Errorf("fan-out: %w", err)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.New("fan-out: subscription not live yet")
	}
}

// versions remembers, per call, the highest version delivered, so that an event overtaken by
// a newer one of the same call (sent by another instance) is dropped rather than shown; and
// whether this instance's clients were last shown the call online, with that event, so
// that reconciliation can retract what the store forgot (see Server.Retract).
type versions struct {
	mu   sync.Mutex
	seen map[string]seenVersion
}

type seenVersion struct {
	v      int64
	at     time.Time
	topic  string
	online json.RawMessage // the last event delivered, when it showed the call online
}

// record records env, delivered at now, and reports whether it is newer than any delivered
// before (events without call or version always are).
func (vs *versions) record(env envelope, now time.Time) bool {
	if env.CallSID == "" || env.Version == 0 {
		return true
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if vs.seen == nil {
		vs.seen = make(map[string]seenVersion)
	}
	if old, ok := vs.seen[env.CallSID]; ok && old.v >= env.Version {
		return false
	}
	s := seenVersion{v: env.Version, at: now, topic: env.TopicID}
	if env.Online {
		s.online = env.Payload
	}
	vs.seen[env.CallSID] = s
	return true
}

// forget drops calls not heard of since before cutoff, but those last shown online: they
// may yet have to be retracted.
func (vs *versions) forget(cutoff time.Time) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	for call, s := range vs.seen {
		if s.online == nil && s.at.Before(cutoff) {
			delete(vs.seen, call)
		}
	}
}

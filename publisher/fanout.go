package publisher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Fanout carries events between bridge instances, so that every room client sees every
// event of its topic whichever instance it is connected to. An instance delivers its own
// events to its own clients directly, and sends them through the fan-out for the others;
// what it receives back of its own it ignores.
type Fanout interface {
	Send(ctx context.Context, msg []byte) error
	// Run delivers every message sent by any instance until ctx is done. It calls
	// subscribed each time its subscription is made, the first time and after each loss
	// (messages sent meanwhile are lost).
	Run(ctx context.Context, deliver func(msg []byte), subscribed func())
	// Check reports whether a message sent now would come back: the subscription is live.
	Check(ctx context.Context) error
}

// envelope is an event on its way to every instance.
type envelope struct {
	Origin  string          `json:"o"` // the sending instance
	TopicID string          `json:"t"`
	CallSID string          `json:"c,omitempty"`
	Version int64           `json:"v,omitempty"`
	Online  bool            `json:"on,omitempty"` // a phone party's online event; read by bridges of earlier versions only
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

// Run implements Fanout. go-redis resubscribes by itself after a lost connection; Redis
// confirms each subscription, and each confirmation calls subscribed.
func (f *RedisFanout) Run(ctx context.Context, deliver func([]byte), subscribed func()) {
	ps := f.rdb.Subscribe(ctx, f.channel)
	defer ps.Close()
	ch := ps.ChannelWithSubscriptions(redis.WithChannelSize(4096))
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					subscribed()
				}
			case *redis.Message:
				f.handle(m.Payload, deliver)
			}
		}
	}
}

// handle takes one message: a probe of Check's, or an event.
func (f *RedisFanout) handle(payload string, deliver func([]byte)) {
	if id, isProbe := strings.CutPrefix(payload, probePrefix); isProbe {
		if done, mine := f.probes.LoadAndDelete(id); mine {
			close(done.(chan struct{}))
		}
		return
	}
	deliver([]byte(payload))
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

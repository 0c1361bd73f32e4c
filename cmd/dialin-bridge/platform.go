package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/metrics"
	"github.com/dialin-bridge/dialin-bridge/platform"
	"github.com/dialin-bridge/dialin-bridge/publisher"
	"github.com/dialin-bridge/dialin-bridge/roster"
	"github.com/dialin-bridge/dialin-bridge/webhook"
)

// platformMode is platform mode (contract §5) wired into the bridge: the sink that publishes
// into the room platform's own socket.io cluster and answers its requests. A nil
// *platformMode is platform mode off; every method works on it.
//
// The seam is thin on purpose: the sink gets each event where the bridge's own clients get
// it (the webhook handler's Publisher, which reconciliation publishes through too), and the
// platform's requests go to the roster the room side uses.
type platformMode struct {
	sink *platform.Sink
	rdb  *redis.Client
	stop context.CancelFunc
	done chan struct{}
}

// startPlatform starts platform mode when it is configured; close stops it.
func startPlatform(cfg PlatformConfig, ros *roster.Roster, side roomSide, met *metrics.Metrics, log *slog.Logger) (*platformMode, error) {
	if cfg.Mode == "" {
		return nil, nil
	}
	opt, err := redis.ParseURL(string(cfg.RedisURL))
	if err != nil {
		return nil, fmt.Errorf("%s: not a Redis URL", env("PLATFORM_REDIS_URL"))
	}
	rdb := redis.NewClient(opt)
	sink := platform.New(platform.Options{
		Redis:     rdb,
		Key:       cfg.Key,
		Namespace: cfg.Namespace,
		Rooms:     cfg.Rooms,
		Removals:  cfg.Removals,
		Roster:    platformRoster{side},
		Live:      liveParties(ros),
		Observer:  met.Platform(),
		Log:       log.With("component", "platform"),
	})
	ctx, cancel := context.WithCancel(context.Background())
	p := &platformMode{sink: sink, rdb: rdb, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sink.Run(ctx)
	}()
	log.Info("platform mode: publishing into the platform's socket.io cluster", "key", cfg.Key,
		"namespace", cfg.Namespace, "room", cfg.Room, "removals", cfg.Removals, "uid", sink.UID())
	return p, nil
}

// close stops the sink, waits for it, and closes its Redis client.
func (p *platformMode) close() {
	if p == nil {
		return
	}
	p.stop()
	<-p.done
	p.rdb.Close()
}

// ready reports whether the platform's Redis answers (always, when platform mode is off).
func (p *platformMode) ready(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.sink.Ready(ctx)
}

// publisher is pub, and with platform mode on, the platform as well.
func (p *platformMode) publisher(pub webhook.Publisher) webhook.Publisher {
	if p == nil {
		return pub
	}
	return tee{Publisher: pub, sink: p.sink}
}

// tee sends each event to the bridge's own clients, then queues it for the platform.
type tee struct {
	webhook.Publisher
	sink *platform.Sink
}

func (t tee) Publish(ev mapper.Event) {
	t.Publisher.Publish(ev)
	t.sink.Publish(ev)
}

// platformRoster is the room side's roster, in the platform's terms.
type platformRoster struct{ roomSide }

func (r platformRoster) Remove(ctx context.Context, topicID, callSID string) error {
	err := r.roomSide.Remove(ctx, topicID, callSID)
	if errors.Is(err, publisher.ErrUnknownParty) {
		return platform.ErrUnknownParty
	}
	return err
}

// liveParties lists every phone party online, from the store every instance shares.
func liveParties(ros *roster.Roster) platform.LiveFunc {
	return func(ctx context.Context) ([]mapper.Event, error) {
		calls, err := ros.Store().Live(ctx)
		if err != nil {
			return nil, err
		}
		var events []mapper.Event
		for _, c := range calls {
			if c.State == roster.Online {
				events = append(events, webhook.Event(roster.Change{Call: c, Emit: roster.EmitOnline}))
			}
		}
		return events, nil
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/dialin-bridge/dialin-bridge/internal/redisurl"
	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/metrics"
	"github.com/dialin-bridge/dialin-bridge/platform"
	"github.com/dialin-bridge/dialin-bridge/presence"
)

// platformMode is platform mode (contract §5) wired into the bridge: the sink that publishes
// into the room platform's own socket.io cluster and answers its requests. A nil
// *platformMode is platform mode off; every method works on it.
//
// The platform is one more sink of the presence core, and a second source of room requests
// beside the bridge's own socket clients.
type platformMode struct {
	sink *platform.Sink
	rdb  *redis.Client
	stop context.CancelFunc
	done chan struct{}
}

// newPlatform builds platform mode when it is configured; start runs it and close stops it.
// The platform's requests go to the presence core, as the room side's do: requests holds it
// by the time start is called.
func newPlatform(cfg PlatformConfig, requests *roomRequests, met *metrics.Metrics, log *slog.Logger) (*platformMode, error) {
	if cfg.Mode == "" {
		return nil, nil
	}
	// A URL naming Sentinels gives a client that follows a promotion of the platform's Redis.
	rdb, err := redisurl.New(string(cfg.RedisURL))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", env("PLATFORM_REDIS_URL"), err)
	}
	sink := platform.New(platform.Options{
		Redis:     rdb,
		Key:       cfg.Key,
		Namespace: cfg.Namespace,
		Rooms:     cfg.Rooms,
		Removals:  cfg.Removals,
		Roster:    platformRoster{requests},
		Live:      func(ctx context.Context) ([]mapper.Event, error) { return requests.Live(ctx) },
		Observer:  met.Platform(),
		Log:       log.With("component", "platform"),
	})
	p := &platformMode{sink: sink, rdb: rdb, done: make(chan struct{})}
	log.Info("platform mode: publishing into the platform's socket.io cluster", "key", cfg.Key,
		"namespace", cfg.Namespace, "room", cfg.Room, "removals", cfg.Removals, "uid", sink.UID())
	return p, nil
}

// start runs the sink: its publisher, its listener and its health loop.
func (p *platformMode) start() {
	if p == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	go func() {
		defer close(p.done)
		p.sink.Run(ctx)
	}()
}

// close stops the sink, waits for it, and closes its Redis client.
func (p *platformMode) close() {
	if p == nil {
		return
	}
	if p.stop != nil {
		p.stop()
		<-p.done
	}
	p.rdb.Close()
}

// ready reports whether the platform's Redis answers (always, when platform mode is off).
func (p *platformMode) ready(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.sink.Ready(ctx)
}

// sinks is the core's sinks: the bridge's own clients, and with platform mode on, the
// platform as well.
func (p *platformMode) sinks(pub presence.Sink) []presence.Sink {
	if p == nil {
		return []presence.Sink{pub}
	}
	return []presence.Sink{pub, p.sink}
}

// platformRoster is the presence core, in the platform's terms.
type platformRoster struct{ *roomRequests }

func (r platformRoster) Remove(ctx context.Context, topicID, callSID string) error {
	err := r.roomRequests.Remove(ctx, topicID, callSID)
	if errors.Is(err, presence.ErrUnknownParty) {
		return platform.ErrUnknownParty
	}
	return err
}

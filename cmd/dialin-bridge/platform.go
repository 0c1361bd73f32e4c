package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/dialin-bridge/dialin-bridge/internal/redisurl"
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

// newPlatform builds platform mode when it is configured; start runs it, answering the
// platform's requests through the presence core, and close stops it.
func newPlatform(cfg PlatformConfig, web platform.WebParties, met *metrics.Metrics, log *slog.Logger) (*platformMode, error) {
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
		Observer:  met.Platform(),
		Log:       log.With("component", "platform"),
		// The roll call hears the web parties of the platform's rooms.
		WebParties: web,
	})
	p := &platformMode{sink: sink, rdb: rdb, done: make(chan struct{})}
	log.Info("platform mode: publishing into the platform's socket.io cluster", "key", cfg.Key,
		"namespace", cfg.Namespace, "room", cfg.Room, "removals", cfg.Removals, "uid", sink.UID())
	return p, nil
}

// start runs the sink: its publisher, its listener and its health loop, answering the
// platform's requests through core.
func (p *platformMode) start(core platform.Roster) {
	if p == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	go func() {
		defer close(p.done)
		p.sink.Run(ctx, core)
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

// relay publishes an admin's event (party.removed) into the topic's room of the platform.
func (p *platformMode) relay(topicID string, payload any) {
	if p == nil {
		return
	}
	p.sink.Relay(topicID, payload)
}

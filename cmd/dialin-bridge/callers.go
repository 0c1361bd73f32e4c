package main

import (
	"context"
	"log/slog"

	"github.com/dialin-bridge/dialin-bridge/pinlock"
	"github.com/dialin-bridge/dialin-bridge/presence"
	"github.com/dialin-bridge/dialin-bridge/publisher"
	"github.com/dialin-bridge/dialin-bridge/roster"
	"github.com/dialin-bridge/dialin-bridge/twilioapi"
	"github.com/dialin-bridge/dialin-bridge/webhook"
	"github.com/dialin-bridge/dialin-bridge/webparties"
)

// callers is what callers hear (contract §7), wired: the tracker of web parties the roll call
// reads, and the count of wrong PINs. With the Redis store both are shared by the instances,
// so that a caller hears the same on any of them.
type callers struct {
	web  *webparties.Tracker
	pins webhook.PINGuard
}

func newCallers(store roster.Store, log *slog.Logger) callers {
	if rs, ok := store.(*roster.Redis); ok {
		return callers{
			web:  webparties.NewShared(rs.Client(), roster.DefaultRedisPrefix, log.With("component", "webparties")),
			pins: pinlock.NewRedis(rs.Client(), roster.DefaultRedisPrefix),
		}
	}
	return callers{web: webparties.New(), pins: pinlock.NewMemory()}
}

// room is who is in a room, for the roll call: the web parties the tracker knows and the
// phone parties connected.
type room struct {
	web  *webparties.Tracker
	core *presence.Core
}

func (r room) Present(ctx context.Context, topicID string) (webhook.Present, error) {
	web, err := r.web.Present(ctx, topicID)
	if err != nil {
		return webhook.Present{}, err
	}
	calls, err := r.core.Connected(ctx, topicID)
	if err != nil {
		return webhook.Present{}, err
	}
	p := webhook.Present{Web: web}
	for _, c := range calls {
		if c.Directory && c.DisplayName != "" {
			p.Known = append(p.Known, c.DisplayName)
		} else {
			p.Unknown++
		}
	}
	return p, nil
}

// lobbyOptions are the core's lobby options: the TwiML comes from the webhooks' handler,
// built after the core (hooks is filled in before anything is served).
func lobbyOptions(cfg LobbyConfig, twilio *twilioapi.Client, hooks **webhook.Handler, pub *publisher.Server) presence.LobbyOptions {
	o := presence.LobbyOptions{
		Timeout:  cfg.Timeout,
		Admit:    func(ctx context.Context, topicID string) (string, error) { return (*hooks).AdmitTwiML(ctx, topicID) },
		Deny:     func() (string, error) { return (*hooks).DenyTwiML() },
		TimedOut: func() (string, error) { return (*hooks).TimeoutTwiML() },
		Sinks:    []presence.LobbySink{pub},
	}
	if twilio != nil {
		o.Twilio = twilio
	}
	return o
}

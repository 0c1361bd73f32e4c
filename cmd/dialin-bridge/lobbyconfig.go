package main

import (
	"strings"
	"time"

	"github.com/dialin-bridge/dialin-bridge/roster"
	"github.com/dialin-bridge/dialin-bridge/webhook"
)

// LobbyEnv (exported, so that envconfig fills it when embedded) is the lobby's part of the
// environment (contract §7).
type LobbyEnv struct {
	LobbyMusicURL string `split_words:"true"`
	LobbyTimeout  string `split_words:"true" default:"10m"`
}

// LobbyConfig configures the lobbies of topics that have one.
type LobbyConfig struct {
	// MusicURL is what waiting callers hear: an operator may want their own.
	MusicURL string
	// Timeout bounds how long a caller waits for an admin who may never come.
	Timeout time.Duration
}

// validate checks the lobby's variables, each bad one reported through bad.
func (e LobbyEnv) validate(bad func(format string, args ...any)) LobbyConfig {
	c := LobbyConfig{MusicURL: or(strings.TrimSpace(e.LobbyMusicURL), webhook.DefaultLobbyMusicURL)}
	if !absoluteURL(c.MusicURL) {
		bad("%s must be an absolute http(s) URL of an audio file", env("LOBBY_MUSIC_URL"))
	}
	d, err := time.ParseDuration(strings.TrimSpace(or(e.LobbyTimeout, "10m")))
	// A waiting call is kept as long as a call that never joined (roster.RoutingTTL).
	if err != nil || d < time.Second || d > roster.RoutingTTL {
		bad("%s must be a Go duration from 1s to 12h, such as 10m", env("LOBBY_TIMEOUT"))
	}
	c.Timeout = d
	return c
}

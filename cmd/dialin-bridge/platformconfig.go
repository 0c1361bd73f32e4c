package main

import (
	"cmp"
	"strings"

	"github.com/dialin-bridge/dialin-bridge/internal/redisurl"
	"github.com/dialin-bridge/dialin-bridge/platform"
)

// PlatformEnv (exported, so that envconfig fills it when embedded) is platform mode's part of the environment (contract §5).
type PlatformEnv struct {
	Platform          string `split_words:"true"`
	PlatformRedisURL  string `split_words:"true"`
	PlatformKey       string `split_words:"true" default:"socket.io"`
	PlatformNamespace string `split_words:"true" default:"/chat"`
	PlatformRoom      string `split_words:"true" default:"{topicId}"`
	PlatformRemovals  string `split_words:"true" default:"hangup"`
}

// PlatformConfig is platform mode's configuration; zero when it is off.
type PlatformConfig struct {
	// Mode is "socketio-redis" to publish phone parties into the room platform's own
	// socket.io cluster, so that its clients see them with no second connection.
	Mode string
	// RedisURL is the Redis the platform's socket.io adapter uses (it may not be the
	// bridge's own).
	RedisURL Secret
	// Key, Namespace and Rooms must match the platform's adapter key, its clients' namespace
	// and the way it names a topic's room, or nobody hears the bridge.
	Key       string
	Namespace string
	Room      string
	Rooms     platform.Rooms
	// Removals says whether a party.removed the platform relays hangs a phone party up:
	// the platform decides who may remove, so an operator may prefer to keep that power.
	Removals string
}

// validate checks platform mode's variables, each bad one reported through bad.
func (raw PlatformEnv) validate(bad func(format string, args ...any)) PlatformConfig {
	c := PlatformConfig{
		Mode:      strings.TrimSpace(raw.Platform),
		RedisURL:  Secret(strings.TrimSpace(raw.PlatformRedisURL)),
		Key:       strings.TrimSpace(raw.PlatformKey),
		Namespace: strings.TrimSpace(raw.PlatformNamespace),
		Room:      raw.PlatformRoom,
		Removals:  strings.TrimSpace(raw.PlatformRemovals),
	}
	switch c.Mode {
	case "", "socketio-redis":
	default:
		bad("%s must be empty or socketio-redis", env("PLATFORM"))
	}
	if c.Mode == "" {
		return PlatformConfig{} // the other variables are read only in platform mode
	}
	// A variable set but empty means its default.
	c.Key = cmp.Or(c.Key, platform.DefaultKey)
	c.Namespace = cmp.Or(c.Namespace, platform.DefaultNamespace)
	c.Room = cmp.Or(c.Room, platform.DefaultRoom)
	c.Removals = cmp.Or(c.Removals, platform.RemovalsHangup)
	if c.RedisURL == "" {
		bad("%s is required with %s=socketio-redis", env("PLATFORM_REDIS_URL"), env("PLATFORM"))
	}
	if c.RedisURL != "" {
		if err := redisurl.Check(string(c.RedisURL)); err != nil {
			bad("%s %v", env("PLATFORM_REDIS_URL"), err)
		}
	}
	if strings.Contains(c.Key, "#") {
		bad("%s must be a key prefix without #", env("PLATFORM_KEY"))
	}
	if !strings.HasPrefix(c.Namespace, "/") || strings.Contains(c.Namespace, "#") {
		bad("%s must start with / and hold no #, such as /chat", env("PLATFORM_NAMESPACE"))
	}
	rooms, err := platform.NewRooms(c.Room)
	if err != nil {
		bad("%s: %v", env("PLATFORM_ROOM"), err)
	}
	c.Rooms = rooms
	switch c.Removals {
	case platform.RemovalsHangup, platform.RemovalsIgnore:
	default:
		bad("%s must be hangup or ignore", env("PLATFORM_REMOVALS"))
	}
	return c
}

package main

import (
	"strings"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/platform"
)

func TestPlatformConfigDefaults(t *testing.T) {
	clearEnv(t)
	setEnv(t, map[string]string{
		"DIALIN_PUBLIC_URL":         "https://bridge.example.com",
		"TWILIO_ACCOUNT_SID":        testSID,
		"TWILIO_AUTH_TOKEN":         testToken,
		"DIALIN_JWT_SECRET":         testJWTSecret,
		"DIALIN_PLATFORM":           "socketio-redis",
		"DIALIN_PLATFORM_REDIS_URL": "redis://platform:6379/0",
	})
	c, err := loadConfig()
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	p := c.Platform
	if p.Mode != "socketio-redis" || p.Key != platform.DefaultKey || p.Namespace != platform.DefaultNamespace ||
		p.Room != platform.DefaultRoom || p.Removals != platform.RemovalsHangup || p.Rooms.Room("T") != "T" {
		t.Errorf("platform config %+v; want the contract's defaults", p)
	}
}

func TestPlatformConfigOffByDefault(t *testing.T) {
	raw := validRaw()
	raw.PlatformRedisURL, raw.PlatformRoom, raw.PlatformRemovals = "http://not-redis", "no-placeholder", "kick"
	c, err := raw.validate()
	if err != nil {
		t.Fatal(err)
	}
	if c.Platform != (PlatformConfig{}) {
		t.Errorf("platform config %+v without DIALIN_PLATFORM", c.Platform)
	}
}

// TestPlatformConfigErrors: every bad variable of platform mode is named in one message.
func TestPlatformConfigErrors(t *testing.T) {
	raw := validRaw()
	raw.Platform = "socketio-redis"
	raw.PlatformKey, raw.PlatformNamespace, raw.PlatformRoom, raw.PlatformRemovals = "a#b", "chat", "room-without-topic", "kick"
	_, err := raw.validate()
	if err == nil {
		t.Fatal("bad platform configuration accepted")
	}
	for _, name := range []string{"DIALIN_PLATFORM_REDIS_URL", "DIALIN_PLATFORM_KEY", "DIALIN_PLATFORM_NAMESPACE", "DIALIN_PLATFORM_ROOM", "DIALIN_PLATFORM_REMOVALS"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	raw = validRaw()
	raw.PlatformKey, raw.PlatformNamespace, raw.PlatformRoom, raw.PlatformRemovals = "socket.io", "/chat", "{topicId}", "hangup"
	raw.Platform, raw.PlatformRedisURL = "kafka", "http://x"
	_, err = raw.validate()
	if err == nil || !strings.Contains(err.Error(), "DIALIN_PLATFORM must") || !strings.Contains(err.Error(), "DIALIN_PLATFORM_REDIS_URL must") {
		t.Errorf("error %v; want DIALIN_PLATFORM and DIALIN_PLATFORM_REDIS_URL named", err)
	}
	raw.Platform, raw.PlatformRedisURL = "socketio-redis", "redis://:hunter2secret@platform:6379"
	raw.PlatformRemovals = "bad"
	_, err = raw.validate()
	if err == nil || strings.Contains(err.Error(), "hunter2secret") {
		t.Errorf("error %v shows the platform's Redis password", err)
	}
}

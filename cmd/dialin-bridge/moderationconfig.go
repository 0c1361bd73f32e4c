package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/presence"
	"github.com/dialin-bridge/dialin-bridge/twilioapi"
	"github.com/dialin-bridge/dialin-bridge/webhook"
)

// ModerationEnv (exported, so that envconfig fills it when embedded) is the environment of
// dial-out and speech (contract §6).
type ModerationEnv struct {
	DialoutFrom       string `envconfig:"DIALOUT_FROM"`
	DialoutPrefixes   string `envconfig:"DIALOUT_PREFIXES"`
	DialoutMaxRinging string `envconfig:"DIALOUT_MAX_RINGING" default:"5"`
	Speaking          string `envconfig:"SPEAKING" default:"false"`
}

// DefaultMaxRinging is DIALIN_DIALOUT_MAX_RINGING's default.
const DefaultMaxRinging = 5

// ModerationConfig is dial-out's and speech's configuration.
type ModerationConfig struct {
	// DialOutFrom is the Twilio number dial-outs call from; empty turns dial-out off, as an
	// open dial-out is toll fraud waiting to happen.
	DialOutFrom string
	// DialOutPrefixes are the E.164 prefixes dial-out may call (none: nothing), so that an
	// operator chooses which countries or ranges a moderator can make the account pay for.
	DialOutPrefixes []string
	// DialOutMaxRinging bounds the dial-outs of one topic ringing at once, so that a stolen
	// admin token cannot ring hundreds of phones at once.
	DialOutMaxRinging int
	// Speaking asks Twilio for speech events and shows who is speaking; it is off by
	// default as it multiplies the callbacks of every conference.
	Speaking bool
}

// validate checks the variables, each bad one reported through bad.
func (raw ModerationEnv) validate(bad func(format string, args ...any)) ModerationConfig {
	c := ModerationConfig{DialOutFrom: strings.TrimSpace(raw.DialoutFrom)}
	if c.DialOutFrom != "" && !mapper.IsE164(c.DialOutFrom) {
		bad("%s must be an E.164 number such as +15005550006", env("DIALOUT_FROM"))
	}
	for _, p := range strings.Split(raw.DialoutPrefixes, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !validPrefix(p) {
			bad("%s must be comma-separated E.164 prefixes such as +1,+44 (not %q)", env("DIALOUT_PREFIXES"), p)
			continue
		}
		c.DialOutPrefixes = append(c.DialOutPrefixes, p)
	}
	n, err := strconv.Atoi(or(strings.TrimSpace(raw.DialoutMaxRinging), strconv.Itoa(DefaultMaxRinging)))
	if err != nil || n < 1 || n > 1000 {
		bad("%s must be a whole number from 1 to 1000", env("DIALOUT_MAX_RINGING"))
	}
	c.DialOutMaxRinging = n
	speaking, err := strconv.ParseBool(or(strings.TrimSpace(raw.Speaking), "false"))
	if err != nil {
		bad("%s must be true or false", env("SPEAKING"))
	}
	c.Speaking = speaking
	return c
}

// validPrefix reports whether p is "+" and 1 to 15 digits, the first not 0.
func validPrefix(p string) bool {
	if len(p) < 2 || len(p) > 16 || p[0] != '+' || p[1] == '0' {
		return false
	}
	for _, r := range p[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// dialOutOptions is the presence core's dial-out configuration: the same conference settings
// as every dial-in's <Conference> (webhook.ConferenceEvents), the call's status callbacks to
// the status webhook, 30 s to answer and DIALIN_MAX_CALL_DURATION to last.
func dialOutOptions(cfg Config) presence.DialOutOptions {
	return presence.DialOutOptions{
		From:       cfg.Moderation.DialOutFrom,
		Prefixes:   cfg.Moderation.DialOutPrefixes,
		MaxRinging: cfg.Moderation.DialOutMaxRinging,
		Call: twilioapi.DialOut{
			Timeout:            dialOutTimeout,
			TimeLimit:          int(cfg.MaxCallDuration / time.Second),
			StatusCallback:     cfg.PublicURL + webhook.PathStatus,
			ConferenceCallback: cfg.PublicURL + webhook.PathConference,
			ConferenceEvents:   webhook.ConferenceEvents(cfg.Moderation.Speaking),
		},
	}
}

// dialOutTimeout is how long a dial-out rings, in seconds (contract §6).
const dialOutTimeout = 30

package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/dialin-bridge/dialin-bridge/internal/redisurl"
	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/twilioapi"
	"github.com/dialin-bridge/dialin-bridge/webhook"
)

// envPrefix prefixes every variable but the two Twilio ones, which are also read unprefixed.
const envPrefix = "DIALIN"

// rawEnv is the environment as given. Every field is a string so that one pass can check all
// of them and name each bad one, rather than stop at the first.
type rawEnv struct {
	Dev string `split_words:"true" default:"false"`
	PlatformEnv
	LobbyEnv
	ModerationEnv
	ListenAddr        string `split_words:"true"`
	PublicURL         string `split_words:"true"`
	TwilioAccountSID  string `envconfig:"TWILIO_ACCOUNT_SID"`
	TwilioAuthToken   string `envconfig:"TWILIO_AUTH_TOKEN"`
	TwilioApiUrl      string `split_words:"true" default:"https://api.twilio.com"`
	JWTSecret         string `split_words:"true"`
	JWTPublicKeyFile  string `split_words:"true"`
	RoomsFile         string `split_words:"true"`
	Store             string `split_words:"true" default:"bolt"`
	DataDir           string `split_words:"true" default:"./data"`
	RedisURL          string `split_words:"true"`
	RedisMinReplicas  string `split_words:"true" default:"0"`
	CallerID          string `split_words:"true" default:"masked"`
	DefaultPictureURL string `split_words:"true"`
	ReconcileInterval string `split_words:"true" default:"1m"`
	PingInterval      string `split_words:"true"`
	AllowedOrigins    string `split_words:"true" default:"*"`
	DebugAddr         string `split_words:"true"`
	SayVoice          string `split_words:"true"`
	SayLanguage       string `split_words:"true"`
	MaxCallDuration   string `split_words:"true"`
}

// maxMinReplicas caps DIALIN_REDIS_MIN_REPLICAS: more is a typing mistake, not a Redis setup.
const maxMinReplicas = 16

// Secret is a value that must not be printed.
type Secret string

// String hides the value.
// defaultPingInterval is DIALIN_PING_INTERVAL's default, socket.io 2.x servers' own
// pingInterval order of magnitude.
const defaultPingInterval = 10 * time.Second

func (Secret) String() string { return "<secret>" }

// GoString hides the value from %#v too.
func (Secret) GoString() string { return "<secret>" }

// MarshalJSON hides the value from JSON, and so from slog's JSON handler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"<secret>"`), nil }

// LogValue hides the value from slog.
func (Secret) LogValue() slog.Value { return slog.StringValue("<secret>") }

// Config is the validated configuration.
type Config struct {
	// Dev relaxes every check that needs Twilio or a token issuer, so that the bridge can be
	// tried on a laptop; it also keeps it on the loopback interface.
	Dev bool
	// Platform is platform mode (contract §5); zero when off.
	Platform PlatformConfig
	// Lobby configures the lobbies of topics that have one (contract §7).
	Lobby LobbyConfig
	// Moderation is dial-out's and speech's (contract §6).
	Moderation ModerationConfig
	// ListenAddr serves webhooks, socket.io, health, metrics and the admin API on one port.
	ListenAddr string
	// PublicURL is what Twilio calls: signatures are checked against it, so a proxy in front
	// cannot make a forged request look signed.
	PublicURL string
	// AccountSID and AuthToken are the Twilio account, for signatures and REST calls.
	AccountSID string
	AuthToken  Secret
	// TwilioAPIURL exists so that tests can stand in for Twilio's REST API.
	TwilioAPIURL string
	// JWTSecret and JWTPublicKeyFile verify room-client tokens (HS256, or RS256/ES256).
	JWTSecret        Secret
	JWTPublicKeyFile string
	// RoomsFile holds topics and known callers; empty in dev mode means the built-in example.
	RoomsFile string
	// Store is bolt (durable, one instance), memory (tests) or redis (several instances).
	Store    string
	DataDir  string
	RedisURL Secret
	// RedisMinReplicas is how many Redis replicas must hold a change before it is
	// acknowledged to Twilio (WAIT), so that a Sentinel failover loses nothing acknowledged.
	RedisMinReplicas int
	// CallerID says how much of an unknown caller's number the room may see.
	CallerID          mapper.CallerIDMode
	DefaultPictureURL string
	// ReconcileInterval bounds how long a call whose end was missed stays in the room.
	ReconcileInterval time.Duration
	// PingInterval is how often socket clients ping; a client silent for one and a half
	// intervals is dropped, so it bounds how long a vanished client stays in its topics.
	// Tests shorten it.
	PingInterval time.Duration
	// AllowedOrigins are the browser origins whose pages may open socket.io connections (nil:
	// any). A web app on another origin than the bridge is the usual client; a list keeps
	// other sites' pages from using a visitor's browser as a client.
	AllowedOrigins []string
	// DebugAddr, when set, serves pprof on a separate address, off by default.
	DebugAddr string
	// SayVoice and SayLanguage speak the PIN prompts: Twilio retired the voice the bridge
	// used to hard-code, and callers are not all English speakers.
	SayVoice    string
	SayLanguage string
	// MaxCallDuration is <Dial timeLimit>: Twilio's default would cut long meetings, and
	// operators may want to bound what a forgotten call costs.
	MaxCallDuration time.Duration
}

// env names a variable as the operator writes it.
func env(name string) string { return envPrefix + "_" + name }

// loadConfig reads the environment. Its error names every offending variable.
func loadConfig() (Config, error) {
	var raw rawEnv
	if err := envconfig.Process(envPrefix, &raw); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return raw.validate()
}

func (raw rawEnv) validate() (Config, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	c := Config{
		ListenAddr:        strings.TrimSpace(raw.ListenAddr),
		PublicURL:         strings.TrimRight(strings.TrimSpace(raw.PublicURL), "/"),
		AccountSID:        strings.TrimSpace(raw.TwilioAccountSID),
		AuthToken:         Secret(strings.TrimSpace(raw.TwilioAuthToken)),
		TwilioAPIURL:      strings.TrimRight(strings.TrimSpace(raw.TwilioApiUrl), "/"),
		JWTSecret:         Secret(raw.JWTSecret),
		JWTPublicKeyFile:  strings.TrimSpace(raw.JWTPublicKeyFile),
		RoomsFile:         strings.TrimSpace(raw.RoomsFile),
		Store:             strings.TrimSpace(raw.Store),
		DataDir:           strings.TrimSpace(raw.DataDir),
		RedisURL:          Secret(strings.TrimSpace(raw.RedisURL)),
		CallerID:          mapper.CallerIDMode(strings.TrimSpace(raw.CallerID)),
		DefaultPictureURL: strings.TrimSpace(raw.DefaultPictureURL),
		DebugAddr:         strings.TrimSpace(raw.DebugAddr),
		SayVoice:          or(strings.TrimSpace(raw.SayVoice), webhook.DefaultSayVoice),
		SayLanguage:       or(strings.TrimSpace(raw.SayLanguage), webhook.DefaultSayLanguage),
		MaxCallDuration:   webhook.DefaultMaxCallDuration,
	}
	dev, err := strconv.ParseBool(strings.TrimSpace(raw.Dev))
	if err != nil {
		bad("%s must be true or false", env("DEV"))
	}
	c.Dev = dev
	c.Platform = raw.PlatformEnv.validate(bad)
	c.Lobby = raw.LobbyEnv.validate(bad)
	c.Moderation = raw.ModerationEnv.validate(bad)
	if c.ListenAddr == "" {
		c.ListenAddr = ":8080"
		if c.Dev {
			c.ListenAddr = "127.0.0.1:8080"
		}
	}
	if c.PublicURL == "" && c.Dev {
		c.PublicURL = "http://" + strings.Replace(c.ListenAddr, "0.0.0.0:", "127.0.0.1:", 1)
		if strings.HasPrefix(c.ListenAddr, ":") {
			c.PublicURL = "http://127.0.0.1" + c.ListenAddr
		}
	}
	switch {
	case c.PublicURL == "":
		bad("%s is required outside dev mode", env("PUBLIC_URL"))
	case !absoluteURL(c.PublicURL):
		bad("%s must be an absolute http(s) URL", env("PUBLIC_URL"))
	}
	if !c.Dev {
		if c.AccountSID == "" {
			bad("TWILIO_ACCOUNT_SID (or %s) is required outside dev mode", env("TWILIO_ACCOUNT_SID"))
		}
		if c.AuthToken == "" {
			bad("TWILIO_AUTH_TOKEN (or %s) is required outside dev mode", env("TWILIO_AUTH_TOKEN"))
		}
		if c.JWTSecret == "" && c.JWTPublicKeyFile == "" {
			bad("%s or %s is required outside dev mode", env("JWT_SECRET"), env("JWT_PUBLIC_KEY_FILE"))
		}
	}
	if c.AuthToken != "" && !alphanumeric(string(c.AuthToken)) {
		bad("TWILIO_AUTH_TOKEN must be letters and digits only, as Twilio issues it")
	}
	if c.AccountSID != "" && !twilioapi.ValidSID(c.AccountSID, "AC") {
		bad("TWILIO_ACCOUNT_SID must be AC followed by 32 hexadecimal digits")
	}
	if c.TwilioAPIURL == "" {
		c.TwilioAPIURL = twilioapi.DefaultBaseURL
	}
	if !absoluteURL(c.TwilioAPIURL) {
		bad("%s must be an absolute http(s) URL", env("TWILIO_API_URL"))
	}
	switch c.Store {
	case "bolt", "memory":
	case "redis":
		if c.RedisURL == "" {
			bad("%s is required with %s=redis", env("REDIS_URL"), env("STORE"))
		}
	default:
		bad("%s must be bolt, memory or redis", env("STORE"))
	}
	if c.Store == "bolt" && c.DataDir == "" {
		bad("%s must not be empty with %s=bolt", env("DATA_DIR"), env("STORE"))
	}
	if c.RedisURL != "" {
		if err := redisurl.Check(string(c.RedisURL)); err != nil {
			bad("%s %v", env("REDIS_URL"), err)
		}
	}
	if n, err := strconv.Atoi(or(strings.TrimSpace(raw.RedisMinReplicas), "0")); err != nil || n < 0 || n > maxMinReplicas {
		bad("%s must be a whole number from 0 to %d", env("REDIS_MIN_REPLICAS"), maxMinReplicas)
	} else {
		c.RedisMinReplicas = n
	}
	if !c.CallerID.Valid() {
		bad("%s must be masked, full or hidden", env("CALLER_ID"))
	}
	if d, err := time.ParseDuration(strings.TrimSpace(raw.ReconcileInterval)); err != nil || d <= 0 {
		bad("%s must be a positive Go duration such as 1m", env("RECONCILE_INTERVAL"))
	} else {
		c.ReconcileInterval = d
	}
	if strings.TrimSpace(raw.PingInterval) == "" {
		c.PingInterval = defaultPingInterval
	} else if d, err := time.ParseDuration(strings.TrimSpace(raw.PingInterval)); err != nil || d < 100*time.Millisecond {
		bad("%s must be a Go duration of at least 100ms, such as 10s", env("PING_INTERVAL"))
	} else {
		c.PingInterval = d
	}
	if origins, err := parseOrigins(raw.AllowedOrigins); err != nil {
		bad("%s %v", env("ALLOWED_ORIGINS"), err)
	} else {
		c.AllowedOrigins = origins
	}
	if !webhook.ValidSayVoice(c.SayVoice) {
		bad("%s must be a Twilio <Say> voice such as Polly.Joanna (not the retired alice)", env("SAY_VOICE"))
	}
	if !webhook.ValidSayLanguage(c.SayLanguage) {
		bad("%s must be a language tag such as en-US", env("SAY_LANGUAGE"))
	}
	if v := strings.TrimSpace(raw.MaxCallDuration); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > webhook.MaxTimeLimit {
			bad("%s must be a Go duration from 1s to 24h, such as 4h", env("MAX_CALL_DURATION"))
		}
		c.MaxCallDuration = d
	}
	if len(problems) > 0 {
		return Config{}, errors.New("configuration: " + strings.Join(problems, "; "))
	}
	return c, nil
}

// or is s, or def when s is empty.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func alphanumeric(s string) bool {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// parseOrigins reads a comma-separated list of origins, each scheme://host[:port]; "*" (or
// nothing) allows any, and gives nil.
func parseOrigins(s string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(s, ",") {
		o = strings.TrimSpace(o)
		switch {
		case o == "":
			continue
		case o == "*":
			return nil, nil
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("must be * or a comma-separated list of origins such as https://app.example.com (not %q)", o)
		}
		out = append(out, o)
	}
	return out, nil
}

package main

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

const (
	testToken     = "tok9f8e7d6c5b4a39281706f5e4d3c2b1a0"
	testJWTSecret = "jwt-super-secret-0123456789abcdef"
	testRedisPass = "redis-pa55word-xyz"
	testSID       = "AC0123456789abcdef0123456789abcdef"
)

// unprefixed are the variables envconfig may read without the DIALIN_ prefix.
var unprefixed = []string{"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "JWT_SECRET", "JWT_PUBLIC_KEY_FILE",
	"CALLER_ID", "DEFAULT_PICTURE_URL"}

// clearEnv unsets every variable the configuration could read, for the test's duration.
func clearEnv(t *testing.T) {
	t.Helper()
	keys := append([]string(nil), unprefixed...)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "DIALIN_") || strings.HasPrefix(k, "TWILIO_") {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		t.Setenv(k, "") // restores the old value after the test
		os.Unsetenv(k)
	}
}

func setEnv(t *testing.T, kv map[string]string) {
	t.Helper()
	for k, v := range kv {
		t.Setenv(k, v)
	}
}

// setProductionEnv sets the least a production start needs, and nothing else.
func setProductionEnv(t *testing.T) {
	t.Helper()
	clearEnv(t)
	setEnv(t, map[string]string{
		"DIALIN_PUBLIC_URL":  "https://bridge.example.com",
		"TWILIO_ACCOUNT_SID": testSID,
		"TWILIO_AUTH_TOKEN":  testToken,
		"DIALIN_JWT_SECRET":  testJWTSecret,
	})
}

// validRaw is a complete production environment, with envconfig's defaults filled in.
func validRaw() rawEnv {
	return rawEnv{
		Dev:               "false",
		PublicURL:         "https://bridge.example.com",
		TwilioAccountSID:  testSID,
		TwilioAuthToken:   testToken,
		TwilioApiUrl:      "https://api.twilio.com",
		JWTSecret:         testJWTSecret,
		Store:             "bolt",
		DataDir:           "./data",
		CallerID:          "masked",
		ReconcileInterval: "1m",
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	setProductionEnv(t)
	c, err := loadConfig()
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	want := Config{
		ListenAddr:        ":8080",
		PublicURL:         "https://bridge.example.com",
		AccountSID:        testSID,
		AuthToken:         testToken,
		TwilioAPIURL:      "https://api.twilio.com",
		JWTSecret:         testJWTSecret,
		Store:             "bolt",
		DataDir:           "./data",
		CallerID:          mapper.CallerIDMasked,
		ReconcileInterval: time.Minute,
		PingInterval:      10 * time.Second,
		SayVoice:          "Polly.Joanna",
		SayLanguage:       "en-US",
		MaxCallDuration:   4 * time.Hour,
		Moderation:        ModerationConfig{DialOutMaxRinging: DefaultMaxRinging},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("config\n got %s\nwant %s", dump(c), dump(want))
	}
}

func TestLoadConfigDev(t *testing.T) {
	clearEnv(t)
	setEnv(t, map[string]string{"DIALIN_DEV": "true"})
	c, err := loadConfig()
	if err != nil {
		t.Fatalf("loadConfig in dev mode with nothing else: %v", err)
	}
	if !c.Dev || c.ListenAddr != "127.0.0.1:8080" || c.PublicURL != "http://127.0.0.1:8080" {
		t.Errorf("dev: Dev %v ListenAddr %q PublicURL %q; want true, 127.0.0.1:8080, http://127.0.0.1:8080", c.Dev, c.ListenAddr, c.PublicURL)
	}
	if c.Store != "bolt" || c.DataDir != "./data" || c.CallerID != mapper.CallerIDMasked || c.ReconcileInterval != time.Minute || c.TwilioAPIURL != "https://api.twilio.com" {
		t.Errorf("dev defaults: %s", dump(c))
	}
}

func TestLoadConfigMissingEverything(t *testing.T) {
	clearEnv(t)
	_, err := loadConfig()
	if err == nil {
		t.Fatal("loadConfig with an empty environment succeeded")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans several lines: %q", msg)
	}
	for _, name := range []string{"DIALIN_PUBLIC_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "DIALIN_JWT_SECRET"} {
		if !strings.Contains(msg, name) {
			t.Errorf("error %q does not name %s", msg, name)
		}
	}
	for _, name := range []string{"DIALIN_CALLER_ID", "DIALIN_RECONCILE_INTERVAL", "DIALIN_STORE", "DIALIN_DEV"} {
		if strings.Contains(msg, name) {
			t.Errorf("error %q names %s, which has a valid default", msg, name)
		}
	}
}

func TestLoadConfigAliases(t *testing.T) {
	base := map[string]string{"DIALIN_PUBLIC_URL": "https://bridge.example.com", "DIALIN_JWT_SECRET": testJWTSecret}
	const otherSID = "ACffffffffffffffffffffffffffffffff"
	tests := []struct {
		name      string
		env       map[string]string
		wantSID   string
		wantToken Secret
	}{
		{"unprefixed", map[string]string{"TWILIO_ACCOUNT_SID": testSID, "TWILIO_AUTH_TOKEN": testToken}, testSID, testToken},
		{"prefixed", map[string]string{"DIALIN_TWILIO_ACCOUNT_SID": testSID, "DIALIN_TWILIO_AUTH_TOKEN": testToken}, testSID, testToken},
		{"mixed", map[string]string{"DIALIN_TWILIO_ACCOUNT_SID": testSID, "TWILIO_AUTH_TOKEN": testToken}, testSID, testToken},
		{"prefixed wins", map[string]string{"DIALIN_TWILIO_ACCOUNT_SID": testSID, "TWILIO_ACCOUNT_SID": otherSID,
			"DIALIN_TWILIO_AUTH_TOKEN": testToken, "TWILIO_AUTH_TOKEN": "other"}, testSID, testToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			setEnv(t, base)
			setEnv(t, tc.env)
			c, err := loadConfig()
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if c.AccountSID != tc.wantSID || c.AuthToken != tc.wantToken {
				t.Errorf("AccountSID %q; want %q (token matches: %v)", c.AccountSID, tc.wantSID, c.AuthToken == tc.wantToken)
			}
		})
	}
}

// TestLoadConfigIgnoresUnprefixed checks that only the two Twilio variables are also read
// without the DIALIN_ prefix: an unrelated JWT_SECRET or CALLER_ID in the environment must
// not configure the bridge.
func TestLoadConfigIgnoresUnprefixed(t *testing.T) {
	clearEnv(t)
	setEnv(t, map[string]string{
		"DIALIN_PUBLIC_URL": "https://bridge.example.com", "TWILIO_ACCOUNT_SID": testSID, "TWILIO_AUTH_TOKEN": testToken,
		"JWT_SECRET": "x", "JWT_PUBLIC_KEY_FILE": "/x.pem", "CALLER_ID": "full", "DEFAULT_PICTURE_URL": "https://x/p.png",
	})
	_, err := loadConfig()
	if err == nil || !strings.Contains(err.Error(), "DIALIN_JWT_SECRET") {
		t.Fatalf("loadConfig with only unprefixed JWT_SECRET: err %v; want one naming DIALIN_JWT_SECRET", err)
	}
	t.Setenv("DIALIN_JWT_SECRET", testJWTSecret)
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.CallerID != mapper.CallerIDMasked || c.DefaultPictureURL != "" || c.JWTPublicKeyFile != "" {
		t.Errorf("unprefixed variables were read: caller id %q, picture %q, key file %q", c.CallerID, c.DefaultPictureURL, c.JWTPublicKeyFile)
	}
}

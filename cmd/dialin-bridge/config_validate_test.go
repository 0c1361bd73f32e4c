package main

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *rawEnv)
		// names are the variables the error must name; none means valid.
		names []string
		// check inspects a valid config.
		check func(t *testing.T, c Config)
	}{
		{name: "valid", edit: func(r *rawEnv) {}, check: func(t *testing.T, c Config) {
			if c.ListenAddr != ":8080" || c.Dev || c.ReconcileInterval != time.Minute || c.CallerID != mapper.CallerIDMasked {
				t.Errorf("defaults: %s", dump(c))
			}
		}},
		{name: "public URL trailing slash trimmed", edit: func(r *rawEnv) { r.PublicURL = " https://bridge.example.com/ " },
			check: func(t *testing.T, c Config) {
				if c.PublicURL != "https://bridge.example.com" {
					t.Errorf("PublicURL %q", c.PublicURL)
				}
			}},
		{name: "JWT public key file instead of secret", edit: func(r *rawEnv) { r.JWTSecret, r.JWTPublicKeyFile = "", "/etc/jwt.pem" }},
		{name: "listen address kept", edit: func(r *rawEnv) { r.ListenAddr = "0.0.0.0:9000" },
			check: func(t *testing.T, c Config) {
				if c.ListenAddr != "0.0.0.0:9000" {
					t.Errorf("ListenAddr %q", c.ListenAddr)
				}
			}},
		{name: "empty API URL is the default", edit: func(r *rawEnv) { r.TwilioApiUrl = "" },
			check: func(t *testing.T, c Config) {
				if c.TwilioAPIURL != "https://api.twilio.com" {
					t.Errorf("TwilioAPIURL %q", c.TwilioAPIURL)
				}
			}},
		{name: "API URL of a local fake", edit: func(r *rawEnv) { r.TwilioApiUrl = "http://127.0.0.1:4010/" },
			check: func(t *testing.T, c Config) {
				if c.TwilioAPIURL != "http://127.0.0.1:4010" {
					t.Errorf("TwilioAPIURL %q", c.TwilioAPIURL)
				}
			}},
		{name: "caller id modes", edit: func(r *rawEnv) { r.CallerID = "hidden" },
			check: func(t *testing.T, c Config) {
				if c.CallerID != mapper.CallerIDHidden {
					t.Errorf("CallerID %q", c.CallerID)
				}
			}},
		{name: "interval parsed", edit: func(r *rawEnv) { r.ReconcileInterval = "90s" },
			check: func(t *testing.T, c Config) {
				if c.ReconcileInterval != 90*time.Second {
					t.Errorf("ReconcileInterval %v", c.ReconcileInterval)
				}
			}},
		{name: "redis with URL", edit: func(r *rawEnv) { r.Store, r.RedisURL = "redis", "redis://localhost:6379/0" }},
		{name: "redis with Sentinels and replicas", edit: func(r *rawEnv) {
			r.Store, r.RedisURL, r.RedisMinReplicas = "redis", "redis://127.0.0.1:26379?master_name=mymaster&addr=127.0.0.1:26380&addr=127.0.0.1:26381", "1"
		}, check: func(t *testing.T, c Config) {
			if c.RedisMinReplicas != 1 {
				t.Errorf("RedisMinReplicas %d", c.RedisMinReplicas)
			}
		}},
		{name: "memory store", edit: func(r *rawEnv) { r.Store = "memory" }},
		{name: "dev mode needs nothing", edit: func(r *rawEnv) {
			*r = rawEnv{Dev: "true", TwilioApiUrl: "https://api.twilio.com", Store: "bolt", DataDir: "./data", CallerID: "masked", ReconcileInterval: "1m"}
		}, check: func(t *testing.T, c Config) {
			if c.ListenAddr != "127.0.0.1:8080" || c.PublicURL != "http://127.0.0.1:8080" {
				t.Errorf("dev ListenAddr %q PublicURL %q", c.ListenAddr, c.PublicURL)
			}
		}},
		{name: "dev mode on all interfaces gets a loopback public URL", edit: func(r *rawEnv) {
			*r = rawEnv{Dev: "true", ListenAddr: "0.0.0.0:9000", Store: "memory", CallerID: "masked", ReconcileInterval: "1m"}
		}, check: func(t *testing.T, c Config) {
			if c.PublicURL != "http://127.0.0.1:9000" {
				t.Errorf("dev PublicURL %q", c.PublicURL)
			}
		}},
		{name: "dev mode on :9000", edit: func(r *rawEnv) {
			*r = rawEnv{Dev: "true", ListenAddr: ":9000", Store: "memory", CallerID: "masked", ReconcileInterval: "1m"}
		}, check: func(t *testing.T, c Config) {
			if c.PublicURL != "http://127.0.0.1:9000" || c.ListenAddr != ":9000" {
				t.Errorf("dev ListenAddr %q PublicURL %q", c.ListenAddr, c.PublicURL)
			}
		}},

		{name: "missing everything outside dev", edit: func(r *rawEnv) { r.PublicURL, r.TwilioAccountSID, r.TwilioAuthToken, r.JWTSecret = "", "", "", "" },
			names: []string{"DIALIN_PUBLIC_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "DIALIN_JWT_SECRET"}},
		{name: "bad caller id and bad interval together", edit: func(r *rawEnv) { r.CallerID, r.ReconcileInterval = "partial", "soon" },
			names: []string{"DIALIN_CALLER_ID", "DIALIN_RECONCILE_INTERVAL"}},
		{name: "caller id is case sensitive", edit: func(r *rawEnv) { r.CallerID = "MASKED" }, names: []string{"DIALIN_CALLER_ID"}},
		{name: "empty caller id", edit: func(r *rawEnv) { r.CallerID = "" }, names: []string{"DIALIN_CALLER_ID"}},
		{name: "zero interval", edit: func(r *rawEnv) { r.ReconcileInterval = "0s" }, names: []string{"DIALIN_RECONCILE_INTERVAL"}},
		{name: "negative interval", edit: func(r *rawEnv) { r.ReconcileInterval = "-1m" }, names: []string{"DIALIN_RECONCILE_INTERVAL"}},
		{name: "interval without unit", edit: func(r *rawEnv) { r.ReconcileInterval = "60" }, names: []string{"DIALIN_RECONCILE_INTERVAL"}},
		{name: "bad dev flag", edit: func(r *rawEnv) { r.Dev = "maybe" }, names: []string{"DIALIN_DEV"}},
		{name: "redis store without URL", edit: func(r *rawEnv) { r.Store = "redis" }, names: []string{"DIALIN_REDIS_URL"}},
		{name: "redis URL of another scheme", edit: func(r *rawEnv) { r.Store, r.RedisURL = "redis", "http://:"+testRedisPass+"@localhost:6379" },
			names: []string{"DIALIN_REDIS_URL"}},
		{name: "Sentinel URL with an empty master name", edit: func(r *rawEnv) { r.Store, r.RedisURL = "redis", "redis://s1:26379?master_name=" },
			names: []string{"DIALIN_REDIS_URL"}},
		{name: "Sentinel URL with a bad addr", edit: func(r *rawEnv) {
			r.Store, r.RedisURL = "redis", "redis://:"+testRedisPass+"@s1:26379?master_name=m&addr=s2"
		}, names: []string{"DIALIN_REDIS_URL"}},
		{name: "negative min replicas", edit: func(r *rawEnv) { r.RedisMinReplicas = "-1" }, names: []string{"DIALIN_REDIS_MIN_REPLICAS"}},
		{name: "min replicas not a number", edit: func(r *rawEnv) { r.RedisMinReplicas = "one" }, names: []string{"DIALIN_REDIS_MIN_REPLICAS"}},
		{name: "unknown store", edit: func(r *rawEnv) { r.Store = "postgres" }, names: []string{"DIALIN_STORE"}},
		{name: "bolt without data dir", edit: func(r *rawEnv) { r.DataDir = " " }, names: []string{"DIALIN_DATA_DIR"}},
		{name: "public URL without scheme", edit: func(r *rawEnv) { r.PublicURL = "bridge.example.com" }, names: []string{"DIALIN_PUBLIC_URL"}},
		{name: "public URL of another scheme", edit: func(r *rawEnv) { r.PublicURL = "ftp://bridge.example.com" }, names: []string{"DIALIN_PUBLIC_URL"}},
		{name: "public URL without host", edit: func(r *rawEnv) { r.PublicURL = "https://" }, names: []string{"DIALIN_PUBLIC_URL"}},
		{name: "API URL not absolute", edit: func(r *rawEnv) { r.TwilioApiUrl = "api.twilio.com" }, names: []string{"DIALIN_TWILIO_API_URL"}},
		{name: "account SID too short", edit: func(r *rawEnv) { r.TwilioAccountSID = "AC123" }, names: []string{"TWILIO_ACCOUNT_SID"}},
		{name: "auth token with other characters", edit: func(r *rawEnv) { r.TwilioAuthToken = "abc-def" }, names: []string{"TWILIO_AUTH_TOKEN"}},
		{name: "account SID not hexadecimal", edit: func(r *rawEnv) { r.TwilioAccountSID = "AC" + strings.Repeat("z", 32) }, names: []string{"TWILIO_ACCOUNT_SID"}},
		{name: "account SID of another kind", edit: func(r *rawEnv) { r.TwilioAccountSID = "SK0123456789abcdef0123456789abcdef" }, names: []string{"TWILIO_ACCOUNT_SID"}},
		{name: "no JWT setting", edit: func(r *rawEnv) { r.JWTSecret, r.JWTPublicKeyFile = "", "" }, names: []string{"DIALIN_JWT_SECRET", "DIALIN_JWT_PUBLIC_KEY_FILE"}},
		{name: "every problem at once", edit: func(r *rawEnv) {
			r.Dev, r.Store, r.CallerID, r.ReconcileInterval, r.TwilioApiUrl = "yes please", "etcd", "x", "x", "x"
		}, names: []string{"DIALIN_DEV", "DIALIN_STORE", "DIALIN_CALLER_ID", "DIALIN_RECONCILE_INTERVAL", "DIALIN_TWILIO_API_URL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := validRaw()
			tc.edit(&raw)
			c, err := raw.validate()
			if len(tc.names) == 0 {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				if tc.check != nil {
					tc.check(t, c)
				}
				return
			}
			if err == nil {
				t.Fatalf("validate succeeded: %s", dump(c))
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Errorf("validate returned a config with its error")
			}
			msg := err.Error()
			for _, n := range tc.names {
				if !strings.Contains(msg, n) {
					t.Errorf("error %q does not name %s", msg, n)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q spans several lines", msg)
			}
			for _, secret := range []string{testToken, testJWTSecret, testRedisPass} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q shows a secret", msg)
				}
			}
		})
	}
}

// TestAllowedOrigins: "*" (the default) allows any origin, a list is kept as given, and
// anything that is not an origin stops the start naming the variable.
func TestAllowedOrigins(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		bad  bool
	}{
		{in: "*"},
		{in: ""},
		{in: "https://app.example.com", want: []string{"https://app.example.com"}},
		{in: " https://app.example.com , http://localhost:3000", want: []string{"https://app.example.com", "http://localhost:3000"}},
		{in: "https://a.example.com,*", want: nil},
		{in: "app.example.com", bad: true},
		{in: "https://app.example.com/path", bad: true},
		{in: "ftp://app.example.com", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			clearEnv(t)
			setEnv(t, map[string]string{"DIALIN_DEV": "true", "DIALIN_ALLOWED_ORIGINS": tc.in})
			c, err := loadConfig()
			if tc.bad {
				if err == nil || !strings.Contains(err.Error(), "DIALIN_ALLOWED_ORIGINS") {
					t.Fatalf("loadConfig = %v; want an error naming DIALIN_ALLOWED_ORIGINS", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.AllowedOrigins, tc.want) {
				t.Errorf("AllowedOrigins = %q; want %q", c.AllowedOrigins, tc.want)
			}
		})
	}
}

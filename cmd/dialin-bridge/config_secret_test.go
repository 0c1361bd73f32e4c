package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestSecretJSON checks that secrets stay hidden in JSON, as slog's JSON handler writes it.
func TestSecretJSON(t *testing.T) {
	c := Config{AuthToken: Secret(testToken), JWTSecret: Secret(testJWTSecret)}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "cfg", c, "token", c.AuthToken)
	for _, out := range []string{string(b), buf.String()} {
		if strings.Contains(out, testToken) || strings.Contains(out, testJWTSecret) {
			t.Errorf("secret in output: %s", out)
		}
	}
}

// dump prints a config as fmt does, which hides secrets.
func dump(c Config) string { return fmt.Sprintf("%+v", c) }

func TestSecretNeverPrinted(t *testing.T) {
	c, err := func() (Config, error) {
		r := validRaw()
		r.Store, r.RedisURL = "redis", "redis://:"+testRedisPass+"@localhost:6379/0"
		return r.validate()
	}()
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthToken != testToken || c.JWTSecret != testJWTSecret {
		t.Fatal("validate lost the secrets")
	}
	s := Secret(testToken)
	outputs := map[string]string{
		"Secret.String":   s.String(),
		"Secret.GoString": s.GoString(),
		"Secret %v":       fmt.Sprintf("%v", s),
		"Secret %s":       fmt.Sprintf("%s", s),
		"Secret %q":       fmt.Sprintf("%q", s),
		"Secret %#v":      fmt.Sprintf("%#v", s),
		"Secret %x":       fmt.Sprintf("%x", s),
		"Config %v":       fmt.Sprintf("%v", c),
		"Config %+v":      fmt.Sprintf("%+v", c),
		"Config %#v":      fmt.Sprintf("%#v", c),
		"*Config %v":      fmt.Sprintf("%v", &c),
		"*Config %+v":     fmt.Sprintf("%+v", &c),
		"*Config %#v":     fmt.Sprintf("%#v", &c),
		"Println":         fmt.Sprintln(c, c.AuthToken, c.JWTSecret, c.RedisURL),
		"error wrapping":  fmt.Errorf("start: %v", c).Error(),
	}
	if s.String() != "<secret>" || s.GoString() != "<secret>" {
		t.Errorf("Secret prints %q / %q; want <secret>", s.String(), s.GoString())
	}
	hexToken := fmt.Sprintf("%x", testToken)
	for name, out := range outputs {
		for _, secret := range []string{testToken, testJWTSecret, testRedisPass, hexToken} {
			if strings.Contains(out, secret) {
				t.Errorf("%s shows a secret: %s", name, out)
			}
		}
	}
	// The non-secret fields are still there, so the check above is not vacuous.
	if out := outputs["Config %+v"]; !strings.Contains(out, "https://bridge.example.com") || !strings.Contains(out, "<secret>") {
		t.Errorf("Config %%+v = %s; want the public URL and <secret>", out)
	}
}

package redisurl

import (
	"strings"
	"testing"
)

func TestCheckAndNew(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		sentinel  bool
		bad       string
	}{
		{"plain", "redis://127.0.0.1:6379/2", false, ""},
		{"tls", "rediss://:pw@redis.example.com:6380/0", false, ""},
		{"sentinels", "redis://127.0.0.1:26379?master_name=mymaster&addr=127.0.0.1:26380&addr=127.0.0.1:26381", true, ""},
		{"sentinels with db", "redis://:pw@s1:26379/3?master_name=m&password=secret", true, ""},
		{"empty master name", "redis://s1:26379?master_name=", true, "master_name is empty"},
		{"bad addr", "redis://s1:26379?master_name=m&addr=nohostport", true, "not a valid Sentinel URL"},
		{"bad scheme", "http://127.0.0.1:6379", false, "redis:// or rediss://"},
		{"bad db", "redis://127.0.0.1:6379/x", false, "not a valid Redis URL"},
		{"unknown option", "redis://127.0.0.1:6379?nonsense=1", false, "not a valid Redis URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sentinel(tc.url); got != tc.sentinel {
				t.Errorf("Sentinel = %v, want %v", got, tc.sentinel)
			}
			err := Check(tc.url)
			if tc.bad != "" {
				if err == nil || !strings.Contains(err.Error(), tc.bad) {
					t.Fatalf("Check = %v, want an error with %q", err, tc.bad)
				}
				if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), ":pw@") {
					t.Errorf("error %q shows a password", err)
				}
				if _, err := New(tc.url); err == nil {
					t.Error("New accepted a bad URL")
				}
				return
			}
			if err != nil {
				t.Fatalf("Check = %v", err)
			}
			c, err := New(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			o := c.Options()
			if o.DialTimeout != DialTimeout || o.ReadTimeout != IOTimeout || o.WriteTimeout != IOTimeout {
				t.Errorf("timeouts %v %v %v, want %v and %v", o.DialTimeout, o.ReadTimeout, o.WriteTimeout, DialTimeout, IOTimeout)
			}
			if tc.sentinel && o.Addr != "FailoverClient" {
				t.Errorf("a Sentinel URL gave a plain client for %q", o.Addr)
			}
		})
	}
}

// Package redisurl opens go-redis clients from the URLs operators give: a plain
// redis:// or rediss:// URL names one server, and a URL with master_name names Redis
// Sentinels (go-redis's failover URL), whose client follows a promotion on its own,
// pub/sub included. go-redis's ParseURL refuses master_name, so the choice is made here.
package redisurl

import (
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts bound every wait on Redis: dialling, and each reply. A blocking command
// (WAIT) gets its own read timeout from go-redis.
const (
	DialTimeout = 2 * time.Second
	IOTimeout   = 2 * time.Second
)

// Sentinel reports whether raw is a failover URL (it names master_name).
func Sentinel(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Query().Has("master_name")
}

// Check reports what is wrong with raw as a Redis URL, in one line that follows the name of
// the variable ("must be …", "is not …") and does not show the URL (it may hold a password).
func Check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return fmt.Errorf("must be a redis:// or rediss:// URL")
	}
	if Sentinel(raw) {
		o, err := redis.ParseFailoverURL(raw)
		if err != nil {
			return fmt.Errorf("is not a valid Sentinel URL: %w", err)
		}
		if o.MasterName == "" {
			return fmt.Errorf("must name the master: master_name is empty")
		}
		return nil
	}
	if _, err := redis.ParseURL(raw); err != nil {
		return fmt.Errorf("is not a valid Redis URL: %w", err)
	}
	return nil
}

// New returns a client for raw: a failover client when raw names Sentinels, else a plain
// one. Each has the package's timeouts and one retry, unless the URL sets its own.
func New(raw string) (*redis.Client, error) {
	if err := Check(raw); err != nil {
		return nil, err
	}
	if Sentinel(raw) {
		o, err := redis.ParseFailoverURL(raw)
		if err != nil {
			return nil, err
		}
		bound(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries)
		// The Sentinels are asked for the master with the same bounds.
		return redis.NewFailoverClient(o), nil
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	bound(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries)
	return redis.NewClient(o), nil
}

// bound gives the options the package's timeouts and one retry where the URL set none.
func bound(dial, read, write *time.Duration, retries *int) {
	*dial = or(*dial, DialTimeout)
	*read = or(*read, IOTimeout)
	*write = or(*write, IOTimeout)
	if *retries == 0 {
		*retries = 1
	}
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

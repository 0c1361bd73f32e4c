package publisher

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// TestRedisFanoutResubscribed: the Redis fan-out tells its owner each time its subscription
// is made: at start, and again after the connection is lost and go-redis subscribes anew
// (what was published meanwhile is lost, so the core catches up from the store; contract
// §8). It uses the Redis scripts/test.sh provides and kills only its own connection.
func TestRedisFanoutResubscribed(t *testing.T) {
	u := os.Getenv("DIALIN_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	name := "fanout-test-" + uuid.NewString()
	opt.ClientName = name
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis at %s does not answer (scripts/test.sh starts one): %v", u, err)
	}
	f := NewRedisFanout(rdb, "test:"+uuid.NewString())
	ctx, cancel := context.WithCancel(context.Background())
	var subscribed atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(ctx, func([]byte) {}, func() { subscribed.Add(1) })
	}()
	defer func() { cancel(); <-done }()
	waitFor := func(n int32) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); subscribed.Load() < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("subscribed %d times; want %d", subscribed.Load(), n)
			}
		}
	}
	waitFor(1)

	// Kill this test's subscribed connection, and only it.
	list, err := rdb.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " name="+name+" ") && strings.Contains(line, " sub=1 ") {
			id := strings.TrimPrefix(strings.Fields(line)[0], "id=")
			if err := rdb.Do(context.Background(), "CLIENT", "KILL", "ID", id).Err(); err != nil {
				t.Fatal(err)
			}
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("found %d subscribed connections of this test; want 1", killed)
	}
	waitFor(2)
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ccancel()
	if err := f.Check(cctx); err != nil {
		t.Errorf("the subscription is not live after it was made again: %v", err)
	}
}

package webparties

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

func testRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	u := os.Getenv("DIALIN_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis at %s does not answer (scripts/test.sh starts one): %v", u, err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func present(t *testing.T, tr *Tracker, topic string) []string {
	t.Helper()
	names, err := tr.Present(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func TestLocal(t *testing.T) {
	tr := New()
	tr.Online("T1", Session("c1"), "u1", "Ann Lee")
	tr.Online("T1", Session("c2"), "u1", "Ann Lee") // a second tab: one person
	tr.Online("T1", Session("c3"), "u2", "")
	tr.Online("T2", Platform("u3"), "u3", "Cy Young")
	if got := present(t, tr, "T1"); !slices.Equal(got, []string{"", "Ann Lee"}) {
		t.Fatalf("T1: %q", got)
	}
	tr.Left("T1", Session("c1"))
	if got := present(t, tr, "T1"); !slices.Equal(got, []string{"", "Ann Lee"}) {
		t.Fatalf("T1 after one tab left: %q", got)
	}
	tr.Left("T1", Session("c2"))
	tr.Left("T1", Session("c3"))
	if got := present(t, tr, "T1"); len(got) != 0 {
		t.Fatalf("T1 after all left: %q", got)
	}
	if got := present(t, tr, "T2"); !slices.Equal(got, []string{"Cy Young"}) {
		t.Fatalf("T2: %q", got)
	}
	// A platform party not heard of for PlatformTTL is gone.
	tr.now = func() time.Time { return time.Now().Add(PlatformTTL + time.Minute) }
	if got := present(t, tr, "T2"); len(got) != 0 {
		t.Fatalf("T2 after the platform went quiet: %q", got)
	}
}

// TestShared: two instances on one Redis hear the same room; what an instance that stopped
// shared goes with it, and a platform party one instance heard is heard on the other.
func TestShared(t *testing.T) {
	rdb := testRedis(t)
	prefix := "test-" + uuid.NewString() + ":"
	log := slog.New(slog.DiscardHandler)
	a, b := NewShared(rdb, prefix, log), NewShared(rdb, prefix, log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	actx, stopA := context.WithCancel(ctx)
	doneA := make(chan struct{})
	go func() { defer close(doneA); a.Run(actx) }()
	go b.Run(ctx)

	a.Online("T1", Session("c1"), "u1", "Ann Lee")
	b.Online("T1", Session("c2"), "u2", "Bob Stone")
	a.Online("T1", Platform("u3"), "u3", "Cy Young")
	want := []string{"Ann Lee", "Bob Stone", "Cy Young"}
	waitFor(t, func() bool { return slices.Equal(present(t, b, "T1"), want) && slices.Equal(present(t, a, "T1"), want) })

	b.Left("T1", Session("c2"))
	waitFor(t, func() bool { return slices.Equal(present(t, a, "T1"), []string{"Ann Lee", "Cy Young"}) })

	// Instance a stops: its own clients go with it; the platform's party stays.
	stopA()
	<-doneA
	if got := present(t, b, "T1"); !slices.Equal(got, []string{"Cy Young"}) {
		t.Fatalf("after instance a stopped: %q", got)
	}
	keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
	rdb.Del(context.Background(), keys...)
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

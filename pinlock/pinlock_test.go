package pinlock

import (
	"context"
	"os"
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

type guard interface {
	Locked(ctx context.Context, number string) (bool, error)
	Wrong(ctx context.Context, number string) (locked, lockedNow bool, err error)
}

// clocked is a guard whose clock the test moves.
type clocked struct {
	guard
	set func(now func() time.Time)
}

func TestLockout(t *testing.T) {
	rdb := testRedis(t)
	kinds := map[string]func() clocked{
		"memory": func() clocked {
			m := NewMemory()
			return clocked{m, func(now func() time.Time) { m.now = now }}
		},
		"redis": func() clocked {
			r := NewRedis(rdb, "test-"+uuid.NewString()+":")
			return clocked{r, func(now func() time.Time) { r.now = now }}
		},
	}
	ctx := context.Background()
	for name, mk := range kinds {
		t.Run(name, func(t *testing.T) {
			g := mk()
			now := time.Now()
			g.set(func() time.Time { return now })
			const num = "+14155550123"
			for i := range MaxWrong - 1 {
				if locked, _, err := g.Wrong(ctx, num); err != nil || locked {
					t.Fatalf("wrong PIN %d: locked %v, %v", i+1, locked, err)
				}
				now = now.Add(time.Minute)
			}
			if locked, _ := g.Locked(ctx, num); locked {
				t.Fatal("locked after 9 wrong PINs")
			}
			locked, lockedNow, err := g.Wrong(ctx, num)
			if err != nil || !locked || !lockedNow {
				t.Fatalf("10th wrong PIN within 15 minutes: locked %v, now %v, %v", locked, lockedNow, err)
			}
			if locked, _ := g.Locked(ctx, num); !locked {
				t.Fatal("not locked after 10 wrong PINs")
			}
			if locked, lockedNow, _ := g.Wrong(ctx, num); !locked || lockedNow {
				t.Errorf("a wrong PIN while locked: locked %v, now %v; want locked, not again", locked, lockedNow)
			}
			if locked, _ := g.Locked(ctx, "+14155550124"); locked {
				t.Error("another number is locked")
			}
		})
	}
}

// TestWindow: wrong PINs older than 15 minutes do not count.
func TestWindow(t *testing.T) {
	m := NewMemory()
	now := time.Now()
	m.now = func() time.Time { return now }
	ctx := context.Background()
	for range 20 {
		if locked, _, _ := m.Wrong(ctx, "+14155550123"); locked {
			t.Fatal("locked by wrong PINs 2 minutes apart: at most 8 within 15 minutes")
		}
		now = now.Add(2 * time.Minute)
	}
}

// TestSharedByInstances: two instances on one Redis share the count, and exactly one of them
// counts the lockout.
func TestSharedByInstances(t *testing.T) {
	rdb := testRedis(t)
	prefix := "test-" + uuid.NewString() + ":"
	a, b := NewRedis(rdb, prefix), NewRedis(rdb, prefix)
	ctx := context.Background()
	lockouts := 0
	for i := range MaxWrong {
		g := a
		if i%2 == 1 {
			g = b
		}
		locked, lockedNow, err := g.Wrong(ctx, "+14155550123")
		if err != nil {
			t.Fatal(err)
		}
		if lockedNow {
			lockouts++
		}
		if locked != (i == MaxWrong-1) {
			t.Fatalf("after %d wrong PINs on two instances: locked %v", i+1, locked)
		}
	}
	if lockouts != 1 {
		t.Errorf("lockouts %d; want 1", lockouts)
	}
	if locked, _ := a.Locked(ctx, "+14155550123"); !locked {
		t.Error("instance a does not see the lockout")
	}
	keys, _ := rdb.Keys(ctx, prefix+"*").Result()
	for _, k := range keys {
		if len(k) > 0 && containsDigits(k, "4155550123") {
			t.Errorf("key %q holds the number", k)
		}
	}
	rdb.Del(ctx, keys...)
}

func containsDigits(s, digits string) bool {
	for i := 0; i+len(digits) <= len(s); i++ {
		if s[i:i+len(digits)] == digits {
			return true
		}
	}
	return false
}

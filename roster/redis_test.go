package roster

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// redisURL is the Redis the tests use; scripts/test.sh makes sure one answers.
func redisURL() string {
	if u := os.Getenv("DIALIN_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

func newTestRedis(t *testing.T, prefix string) *Redis {
	t.Helper()
	s, err := OpenRedis(redisURL(), prefix, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("redis at %s does not answer (scripts/test.sh starts one): %v", redisURL(), err)
	}
	t.Cleanup(func() {
		s.Close()
		// A client of its own: the test may have closed s.
		c, err := OpenRedis(redisURL(), prefix, 0)
		if err != nil {
			return
		}
		defer c.Close()
		ctx := context.Background()
		keys, _ := c.rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			c.rdb.Del(ctx, keys...)
		}
	})
	return s
}

// expiresByTTL reports whether s forgets stale calls by itself (Redis key expiry) rather
// than in Sweep.
func expiresByTTL(s Store) bool {
	_, ok := s.(*Redis)
	return ok
}

// TestRedisTwoClients: two instances' stores on one Redis apply a duplicate at once exactly
// once (WATCH/MULTI), and ended calls get a TTL.
func TestRedisTwoClients(t *testing.T) {
	prefix := "test:" + uuid.NewString() + ":"
	a, b := New(newTestRedis(t, prefix)), New(newTestRedis(t, prefix))
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		sid := fmt.Sprintf("CA%032d", i)
		if _, err := a.Admit(ctx, sid, "A", Identity{DisplayName: "x"}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Participant(ctx, sid, Participant{ConferenceSID: "CF1", TopicID: "A", Seq: 1}, nil); err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		var wg sync.WaitGroup
		for _, r := range []*Roster{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := rec.add(r.Participant(ctx, sid, Participant{ConferenceSID: "CF1", TopicID: "A", Seq: 2, Leave: true}, nil)); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if leaves := len(rec.got); leaves != 1 {
			t.Fatalf("%s: %d leaves from a duplicate leave delivered four times at once; want 1", sid, leaves)
		}
	}
	ttl, err := a.Store().(*Redis).rdb.TTL(ctx, prefix+"call:"+fmt.Sprintf("CA%032d", 0)).Result()
	if err != nil || ttl <= 0 || ttl > TombstoneTTL {
		t.Errorf("ended call TTL %v err %v; want (0, %v]", ttl, err, TombstoneTTL)
	}
}

// TestRedisTTL: calls that never joined expire after RoutingTTL, online calls do not expire,
// and an expired call leaves no trace in the topic's listing.
func TestRedisTTL(t *testing.T) {
	prefix := "test:" + uuid.NewString() + ":"
	s := newTestRedis(t, prefix)
	ctx := context.Background()
	put(t, s, "CArouting", "A", Routing)
	put(t, s, "CAonline", "A", Online)
	if ttl, _ := s.rdb.TTL(ctx, prefix+"call:CArouting").Result(); ttl <= TombstoneTTL || ttl > RoutingTTL {
		t.Errorf("routing call TTL %v; want (%v, %v]", ttl, TombstoneTTL, RoutingTTL)
	}
	if ttl, _ := s.rdb.TTL(ctx, prefix+"call:CAonline").Result(); ttl != -1 {
		t.Errorf("online call TTL %v; want none", ttl)
	}
	s.rdb.Del(ctx, prefix+"call:CArouting") // as if it expired
	a, err := s.Topic(ctx, "A")
	if err != nil || len(a) != 1 || a[0].CallSID != "CAonline" {
		t.Errorf("topic after expiry: %v %v", sidList(a), err)
	}
	if n, _ := s.rdb.SCard(ctx, prefix+"topic:A").Result(); n != 1 {
		t.Errorf("topic set keeps %d members; want 1", n)
	}
}

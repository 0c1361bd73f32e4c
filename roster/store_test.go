package roster

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// redisURL is the Redis the tests use; scripts/test.sh makes sure one answers.
func redisURL() string {
	if u := os.Getenv("DIALIN_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// stores are the constructors of every Store, each returning a fresh, empty store.
func stores(t *testing.T) map[string]func(t *testing.T) Store {
	return map[string]func(t *testing.T) Store{
		"memory": func(t *testing.T) Store { return NewMemory() },
		"bolt": func(t *testing.T) Store {
			s, err := OpenBolt(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"redis": func(t *testing.T) Store { return newTestRedis(t, "test:"+uuid.NewString()+":") },
	}
}

func newTestRedis(t *testing.T, prefix string) *Redis {
	t.Helper()
	s, err := OpenRedis(redisURL(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("redis at %s does not answer (scripts/test.sh starts one): %v", redisURL(), err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := s.rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			s.rdb.Del(ctx, keys...)
		}
		s.Close()
	})
	return s
}

func put(t *testing.T, s Store, sid, topic string, state State) {
	t.Helper()
	err := s.Update(context.Background(), sid, func(c *Call, found bool) bool {
		c.TopicID, c.State, c.Since = topic, state, time.Now()
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
}

func sids(calls []Call) map[string]bool {
	m := map[string]bool{}
	for _, c := range calls {
		m[c.CallSID] = true
	}
	return m
}

// TestStores runs the same behaviour against every store.
func TestStores(t *testing.T) {
	ctx := context.Background()
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("update, get, topic, live", func(t *testing.T) {
				s := open(t)
				defer s.Close()
				if _, found, err := s.Get(ctx, "CA1"); found || err != nil {
					t.Fatalf("empty store: found %v err %v", found, err)
				}
				// An update that declines to save stores nothing.
				s.Update(ctx, "CA1", func(c *Call, found bool) bool {
					if found || c.CallSID != "CA1" {
						t.Errorf("fresh call: found %v sid %q", found, c.CallSID)
					}
					return false
				})
				if _, found, _ := s.Get(ctx, "CA1"); found {
					t.Fatal("declined update was stored")
				}
				put(t, s, "CA1", "A", Online)
				put(t, s, "CA2", "A", Routing)
				put(t, s, "CA3", "B", Online)
				put(t, s, "CA4", "A", Ended)
				c, found, err := s.Get(ctx, "CA1")
				if !found || err != nil || c.TopicID != "A" || c.State != Online || c.CallSID != "CA1" {
					t.Fatalf("Get CA1 = %+v %v %v", c, found, err)
				}
				a, _ := s.Topic(ctx, "A")
				if got := sids(a); len(got) != 2 || !got["CA1"] || !got["CA2"] {
					t.Errorf("Topic(A) = %v; want CA1, CA2 (not the ended CA4, not B's CA3)", got)
				}
				live, _ := s.Live(ctx)
				if got := sids(live); len(got) != 3 || got["CA4"] {
					t.Errorf("Live = %v; want CA1, CA2, CA3", got)
				}
				// Moving a call to another topic and ending it updates the indexes.
				put(t, s, "CA2", "B", Online)
				put(t, s, "CA1", "A", Ended)
				a, _ = s.Topic(ctx, "A")
				b, _ := s.Topic(ctx, "B")
				if len(a) != 0 || len(sids(b)) != 2 {
					t.Errorf("after moves: A %v B %v", sids(a), sids(b))
				}
			})
			t.Run("sweep", func(t *testing.T) {
				s := open(t)
				defer s.Close()
				now := time.Now()
				for sid, c := range map[string]Call{
					"CAoldEnded":   {State: Ended, Since: now.Add(-TombstoneTTL - time.Minute)},
					"CAnewEnded":   {State: Ended, Since: now.Add(-time.Minute)},
					"CAoldRouting": {State: Routing, Since: now.Add(-RoutingTTL - time.Minute)},
					"CAnewRouting": {State: Routing, Since: now.Add(-time.Hour)},
					"CAlongOnline": {State: Online, Since: now.Add(-48 * time.Hour)},
				} {
					s.Update(ctx, sid, func(cc *Call, _ bool) bool { *cc = c; cc.TopicID = "A"; return true })
				}
				if _, err := s.Sweep(ctx, now); err != nil {
					t.Fatal(err)
				}
				for _, sid := range []string{"CAnewEnded", "CAnewRouting", "CAlongOnline"} {
					if _, found, _ := s.Get(ctx, sid); !found {
						t.Errorf("sweep removed %s", sid)
					}
				}
				if _, isRedis := s.(*Redis); isRedis {
					return // Redis expires stale calls by TTL (TestRedisTTL)
				}
				for _, sid := range []string{"CAoldEnded", "CAoldRouting"} {
					if _, found, _ := s.Get(ctx, sid); found {
						t.Errorf("%s survived the sweep", sid)
					}
				}
				if a, _ := s.Topic(ctx, "A"); len(a) != 2 {
					t.Errorf("topic A after the sweep: %v; want the routing and the online call", sids(a))
				}
			})
			t.Run("concurrent updates are atomic", func(t *testing.T) {
				s := open(t)
				defer s.Close()
				const n = 50
				var wg sync.WaitGroup
				for i := 0; i < n; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						err := s.Update(ctx, "CAcount", func(c *Call, _ bool) bool { c.ConfSeq++; c.State = Online; return true })
						if err != nil {
							t.Error(err)
						}
					}()
				}
				wg.Wait()
				c, _, _ := s.Get(ctx, "CAcount")
				if c.ConfSeq != n {
					t.Errorf("counter %d after %d concurrent updates", c.ConfSeq, n)
				}
			})
			t.Run("ping and close", func(t *testing.T) {
				s := open(t)
				if err := s.Ping(ctx); err != nil {
					t.Fatal(err)
				}
				s.Close()
				if err := s.Ping(ctx); err == nil {
					t.Error("Ping after Close succeeded")
				}
			})
		})
	}
}

// TestBoltReopen: what was stored survives closing and reopening the file.
func TestBoltReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "CA1", "A", Online)
	s.Close()
	s, err = OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, found, err := s.Get(context.Background(), "CA1")
	a, _ := s.Topic(context.Background(), "A")
	if !found || err != nil || c.State != Online || len(a) != 1 {
		t.Fatalf("after reopen: %+v found %v err %v topic %v", c, found, err, sids(a))
	}
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
		if _, err := b.Participant(ctx, sid, Participant{ConferenceSID: "CF1", TopicID: "A", Seq: 1}, nil, nil); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		leaves := 0
		count := func(ch Change) {
			mu.Lock()
			if ch.Emit == EmitLeaves {
				leaves++
			}
			mu.Unlock()
		}
		var wg sync.WaitGroup
		for _, r := range []*Roster{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := r.Participant(ctx, sid, Participant{ConferenceSID: "CF1", TopicID: "A", Seq: 2, Leave: true}, nil, count); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if leaves != 1 {
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
		t.Errorf("topic after expiry: %v %v", sids(a), err)
	}
	if n, _ := s.rdb.SCard(ctx, prefix+"topic:A").Result(); n != 1 {
		t.Errorf("topic set keeps %d members; want 1", n)
	}
}

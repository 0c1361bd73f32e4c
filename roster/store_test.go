package roster

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestMemoryStore, TestBoltStore and TestRedisStore run one conformance suite against each
// Store: the roster's rules hold whatever the store, so every store must behave alike.
func TestMemoryStore(t *testing.T) {
	runStoreSuite(t, func(t *testing.T) Store { return NewMemory() })
}

func TestBoltStore(t *testing.T) {
	runStoreSuite(t, func(t *testing.T) Store { return openTestBolt(t, t.TempDir()) })
}

func TestRedisStore(t *testing.T) {
	runStoreSuite(t, func(t *testing.T) Store { return newTestRedis(t, "test:"+uuid.NewString()+":") })
}

// runStoreSuite checks the behaviour every Store must have. open returns a fresh, empty store
// for each subtest; the suite closes it (closing twice must be harmless to the constructor's
// own cleanup).
func runStoreSuite(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("get of an unknown call", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		c, found, err := s.Get(ctx, "CAnone")
		if found || err != nil || !reflect.DeepEqual(c, Call{}) {
			t.Errorf("Get = %+v, %v, %v; want zero, false, nil", c, found, err)
		}
	})

	t.Run("update of an unknown call that is not saved stores nothing", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		calls := 0
		err := s.Update(ctx, "CA1", func(c *Call, found bool) bool {
			calls++
			if found || !reflect.DeepEqual(*c, Call{CallSID: "CA1"}) {
				t.Errorf("fn got %+v, found %v; want a zero call with its sid, not found", *c, found)
			}
			c.TopicID, c.State = "A", Online
			return false
		})
		if err != nil || calls == 0 {
			t.Fatalf("Update: err %v, fn ran %d times", err, calls)
		}
		if _, found, _ := s.Get(ctx, "CA1"); found {
			t.Error("declined update was stored")
		}
		if got := topicSIDs(t, s, "A"); len(got) != 0 {
			t.Errorf("declined update is listed in its topic: %v", got)
		}
		if got := liveSIDs(t, s); len(got) != 0 {
			t.Errorf("declined update is live: %v", got)
		}
	})

	t.Run("update saves every field, get returns it", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		want := fullCall("CA1")
		err := s.Update(ctx, "CA1", func(c *Call, found bool) bool {
			*c = want
			c.CallSID = "CAsomethingElse" // the store keys by sid, whatever fn says
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		got, found, err := s.Get(ctx, "CA1")
		if !found || err != nil {
			t.Fatalf("Get: found %v err %v", found, err)
		}
		assertCall(t, got, want)
	})

	t.Run("update of a known call sees it, and declining keeps it", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		want := fullCall("CA1")
		mustUpdate(t, s, "CA1", func(c *Call, _ bool) bool { *c = want; return true })
		mustUpdate(t, s, "CA1", func(c *Call, found bool) bool {
			if !found {
				t.Error("second update: found false")
			}
			assertCall(t, *c, want)
			c.Muted, c.State, c.TopicID = false, Ended, "B" // not saved
			return false
		})
		got, _, _ := s.Get(ctx, "CA1")
		assertCall(t, got, want)
		mustUpdate(t, s, "CA1", func(c *Call, _ bool) bool { c.Muted, c.ConfSeq = false, 99; return true })
		got, _, _ = s.Get(ctx, "CA1")
		want.Muted, want.ConfSeq = false, 99
		assertCall(t, got, want)
	})

	t.Run("topic lists that topic's calls that have not ended", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		put(t, s, "CA1", "A", Online)
		put(t, s, "CA2", "A", Routing)
		put(t, s, "CA3", "B", Online)
		put(t, s, "CA4", "A", Ended)
		put(t, s, "CA5", "AB", Online) // a topic whose id starts with A's
		put(t, s, "CA6", "", Routing)  // waiting for its PIN
		assertSIDs(t, "Topic(A)", topicSIDs(t, s, "A"), "CA1", "CA2")
		assertSIDs(t, "Topic(B)", topicSIDs(t, s, "B"), "CA3")
		assertSIDs(t, "Topic(AB)", topicSIDs(t, s, "AB"), "CA5")
		assertSIDs(t, `Topic("")`, topicSIDs(t, s, ""), "CA6")
		assertSIDs(t, "Topic(C)", topicSIDs(t, s, "C"))
		calls, _ := s.Topic(ctx, "A")
		for _, c := range calls {
			if c.TopicID != "A" || c.State == Ended || c.Since.IsZero() {
				t.Errorf("Topic(A) returned %+v", c)
			}
		}

		// A call that moves to another topic, or ends, is listed accordingly.
		put(t, s, "CA2", "B", Online)
		put(t, s, "CA1", "A", Ended)
		put(t, s, "CA6", "A", Routing)
		assertSIDs(t, "Topic(A) after moves", topicSIDs(t, s, "A"), "CA6")
		assertSIDs(t, "Topic(B) after moves", topicSIDs(t, s, "B"), "CA2", "CA3")
		assertSIDs(t, `Topic("") after moves`, topicSIDs(t, s, ""))
		// An ended call that comes back (a store does not judge) is listed again.
		put(t, s, "CA4", "A", Online)
		assertSIDs(t, "Topic(A) after CA4 is back", topicSIDs(t, s, "A"), "CA4", "CA6")
	})

	t.Run("live lists every call that has not ended", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		assertSIDs(t, "Live of an empty store", liveSIDs(t, s))
		put(t, s, "CA1", "A", Online)
		put(t, s, "CA2", "A", Routing)
		put(t, s, "CA3", "B", Online)
		put(t, s, "CA4", "A", Ended)
		put(t, s, "CA5", "", Routing)
		assertSIDs(t, "Live", liveSIDs(t, s), "CA1", "CA2", "CA3", "CA5")
		put(t, s, "CA3", "B", Ended)
		assertSIDs(t, "Live after CA3 ended", liveSIDs(t, s), "CA1", "CA2", "CA5")
		live, _ := s.Live(ctx)
		for _, c := range live {
			if c.State == Ended || c.CallSID == "" {
				t.Errorf("Live returned %+v", c)
			}
		}
	})

	t.Run("sweep forgets only stale calls", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		now := time.Now()
		for sid, c := range map[string]Call{
			"CAoldEnded":    {State: Ended, Since: now.Add(-TombstoneTTL - time.Minute)},
			"CAnewEnded":    {State: Ended, Since: now.Add(-TombstoneTTL + time.Minute)},
			"CAoldRouting":  {State: Routing, Since: now.Add(-RoutingTTL - time.Minute)},
			"CAnewRouting":  {State: Routing, Since: now.Add(-RoutingTTL + time.Minute)},
			"CAlongOnline":  {State: Online, Since: now.Add(-48 * time.Hour)},
			"CAfreshOnline": {State: Online, Since: now},
		} {
			mustUpdate(t, s, sid, func(cc *Call, _ bool) bool { *cc = c; cc.TopicID = "A"; return true })
		}
		n, err := s.Sweep(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		kept := []string{"CAnewEnded", "CAnewRouting", "CAlongOnline", "CAfreshOnline"}
		for _, sid := range kept {
			if _, found, _ := s.Get(ctx, sid); !found {
				t.Errorf("sweep removed %s", sid)
			}
		}
		if expiresByTTL(s) {
			return // stale calls expire by key TTL (TestRedisTTL)
		}
		if n != 2 {
			t.Errorf("Sweep reported %d; want 2", n)
		}
		for _, sid := range []string{"CAoldEnded", "CAoldRouting"} {
			if _, found, _ := s.Get(ctx, sid); found {
				t.Errorf("%s survived the sweep", sid)
			}
		}
		assertSIDs(t, "Topic(A) after the sweep", topicSIDs(t, s, "A"), "CAnewRouting", "CAlongOnline", "CAfreshOnline")
		assertSIDs(t, "Live after the sweep", liveSIDs(t, s), "CAnewRouting", "CAlongOnline", "CAfreshOnline")
		if n, err := s.Sweep(ctx, now); n != 0 || err != nil {
			t.Errorf("second Sweep = %d, %v; want 0, nil", n, err)
		}
	})

	t.Run("concurrent updates of one call never interleave", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		const n = 50
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.Update(ctx, "CAcount", func(c *Call, _ bool) bool {
					c.ConfSeq++
					c.State, c.TopicID = Online, "A"
					return true
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		c, found, err := s.Get(ctx, "CAcount")
		if !found || err != nil || c.ConfSeq != n {
			t.Errorf("counter %d (found %v, err %v) after %d concurrent increments; want %d", c.ConfSeq, found, err, n, n)
		}
	})

	t.Run("concurrent updates of many calls are all kept", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		const n = 50
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sid := fmt.Sprintf("CA%02d", i)
				err := s.Update(ctx, sid, func(c *Call, _ bool) bool {
					c.State, c.TopicID, c.ConfSeq = Online, "A", int64(i)
					return true
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if got := topicSIDs(t, s, "A"); len(got) != n {
			t.Errorf("Topic(A) has %d calls; want %d", len(got), n)
		}
		for i := 0; i < n; i++ {
			if c, _, _ := s.Get(ctx, fmt.Sprintf("CA%02d", i)); c.ConfSeq != int64(i) {
				t.Errorf("CA%02d: %+v", i, c)
			}
		}
	})

	t.Run("ping, then close refuses everything", func(t *testing.T) {
		s := open(t)
		put(t, s, "CA1", "A", Online)
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Ping(ctx); err == nil {
			t.Error("Ping after Close succeeded")
		}
		if err := s.Update(ctx, "CA2", func(c *Call, _ bool) bool { c.State = Online; return true }); err == nil {
			t.Error("Update after Close succeeded")
		}
		if _, _, err := s.Get(ctx, "CA1"); err == nil {
			t.Error("Get after Close succeeded")
		}
		if _, err := s.Topic(ctx, "A"); err == nil {
			t.Error("Topic after Close succeeded")
		}
		if _, err := s.Live(ctx); err == nil {
			t.Error("Live after Close succeeded")
		}
		if _, err := s.Sweep(ctx, time.Now()); err == nil {
			t.Error("Sweep after Close succeeded")
		}
	})
}

// fullCall is a call with every field set to something other than its zero value.
func fullCall(sid string) Call {
	return Call{
		CallSID: sid, TopicID: "A", ConferenceSID: "CF1",
		Identity: Identity{Username: "jsmith@fakeemail.com", DisplayName: "John Smith",
			PictureURL: "https://example.com/p/jsmith.png", Role: "member", Masked: "+1 ••• 0100"},
		State: Online, Muted: true, OnHold: true,
		ConfSeq: 7, ConfSeen: true, CallSeq: 3, CallSeen: true,
		Since:   time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC),
		Version: 4,
	}
}

// assertCall compares calls field for field, times by instant.
func assertCall(t *testing.T, got, want Call) {
	t.Helper()
	if !got.Since.Equal(want.Since) {
		t.Errorf("Since %v; want %v", got.Since, want.Since)
	}
	got.Since, want.Since = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("call\n got %+v\nwant %+v", got, want)
	}
}

func mustUpdate(t *testing.T, s Store, sid string, fn func(c *Call, found bool) bool) {
	t.Helper()
	if err := s.Update(context.Background(), sid, fn); err != nil {
		t.Fatal(err)
	}
}

func put(t *testing.T, s Store, sid, topic string, state State) {
	t.Helper()
	mustUpdate(t, s, sid, func(c *Call, found bool) bool {
		c.TopicID, c.State, c.Since = topic, state, time.Now()
		return true
	})
}

func topicSIDs(t *testing.T, s Store, topic string) []string {
	t.Helper()
	calls, err := s.Topic(context.Background(), topic)
	if err != nil {
		t.Fatalf("Topic(%q): %v", topic, err)
	}
	return sidList(calls)
}

func liveSIDs(t *testing.T, s Store) []string {
	t.Helper()
	calls, err := s.Live(context.Background())
	if err != nil {
		t.Fatalf("Live: %v", err)
	}
	return sidList(calls)
}

// sidList returns the calls' sids, sorted.
func sidList(calls []Call) []string {
	out := []string{}
	for _, c := range calls {
		out = append(out, c.CallSID)
	}
	sort.Strings(out)
	return out
}

func assertSIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v; want %v", what, got, want)
	}
}

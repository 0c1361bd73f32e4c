package roster

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// openTestBolt opens the bolt store in dir and closes it when the test ends.
func openTestBolt(t *testing.T, dir string) *Bolt {
	t.Helper()
	s, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestBoltReopen: no data is lost on restart. Everything an Update acknowledged is in the file
// when it is opened again, indexes included.
func TestBoltReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := fullCall("CAfull")
	mustUpdate(t, s, "CAfull", func(c *Call, _ bool) bool { *c = want; return true })
	put(t, s, "CAroute", "B", Routing)
	put(t, s, "CAended", "A", Ended)
	put(t, s, "CAmoved", "A", Online)
	put(t, s, "CAmoved", "B", Online)
	// Updates acknowledged moments before the close, from many goroutines at once (they share
	// group commits).
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Update(ctx, fmt.Sprintf("CAburst%02d", i), func(c *Call, _ bool) bool {
				c.State, c.TopicID, c.CallSeq = Online, "C", int64(i)
				return true
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTestBolt(t, dir)
	got, found, err := s.Get(ctx, "CAfull")
	if !found || err != nil {
		t.Fatalf("after reopen: found %v err %v", found, err)
	}
	assertCall(t, got, want)
	if c, found, _ := s.Get(ctx, "CAended"); !found || c.State != Ended {
		t.Errorf("tombstone after reopen: %+v found %v", c, found)
	}
	assertSIDs(t, "Topic(A) after reopen", topicSIDs(t, s, "A"), "CAfull")
	assertSIDs(t, "Topic(B) after reopen", topicSIDs(t, s, "B"), "CAroute", "CAmoved")
	if got := topicSIDs(t, s, "C"); len(got) != 40 {
		t.Errorf("Topic(C) after reopen has %d calls; want the 40 acknowledged", len(got))
	}
	for i := 0; i < 40; i++ {
		if c, _, _ := s.Get(ctx, fmt.Sprintf("CAburst%02d", i)); c.CallSeq != int64(i) || c.State != Online {
			t.Errorf("CAburst%02d after reopen: %+v", i, c)
		}
	}
	// And the reopened store works as before.
	put(t, s, "CAroute", "B", Ended)
	assertSIDs(t, "Topic(B) after an end", topicSIDs(t, s, "B"), "CAmoved")
}

package roster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
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

// killedCopy copies the bolt file of dir, as the kernel holds it now, into a new directory:
// what a process killed at this moment (kill -9) leaves on the disk. No clean-close marker
// goes with it.
func killedCopy(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, BoltFile))
	if err != nil {
		t.Fatal(err)
	}
	to := t.TempDir()
	if err := os.WriteFile(filepath.Join(to, BoltFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return to
}

// TestBoltKilled: every update is in the file when Update returns, though commits are not
// synced one by one: a copy of the file taken then (what kill -9 leaves) holds all of them,
// is checked when opened (it was not closed cleanly) and passes.
func TestBoltKilled(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTestBolt(t, dir)
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			put(t, s, fmt.Sprintf("CA%02d", i), "A", Online)
		}()
	}
	wg.Wait()
	put(t, s, "CA00", "A", Ended)
	killed := killedCopy(t, dir)

	checked := 0
	r, err := OpenBoltWith(killed, BoltOptions{Check: func(path string) error {
		checked++
		return CheckBolt(path)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if checked != 1 {
		t.Errorf("a store not closed cleanly was checked %d times when opened; want 1", checked)
	}
	if path, why := r.SetAside(); path != "" {
		t.Fatalf("a whole file was set aside as damaged: %v", why)
	}
	if got := topicSIDs(t, r, "A"); len(got) != 39 {
		t.Errorf("after kill: %d calls online; want the 39 stored and not ended", len(got))
	}
	if c, found, _ := r.Get(ctx, "CA00"); !found || c.State != Ended {
		t.Errorf("after kill: the last update is lost: %+v", c)
	}
}

// TestBoltCleanClose: a store closed cleanly is not checked when opened again; one that was
// not is.
func TestBoltCleanClose(t *testing.T) {
	dir := t.TempDir()
	checked := 0
	opts := BoltOptions{Check: func(string) error { checked++; return nil }}
	for i, want := range []int{0, 0, 0} { // a new store, then two after clean closes
		s, err := OpenBoltWith(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		put(t, s, "CA1", "A", Online)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if checked != want {
			t.Errorf("open %d: checked %d times; want %d", i, checked, want)
		}
	}
	// Open without closing (the marker is taken at open), then reopen a copy.
	s, err := OpenBoltWith(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(filepath.Join(dir, cleanMarker)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the clean marker is still there while the store is open: %v", err)
	}
	r, err := OpenBoltWith(killedCopy(t, dir), opts)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if checked != 1 {
		t.Errorf("a store not closed cleanly: checked %d times; want 1", checked)
	}
}

// TestBoltDamaged: a damaged file (what a machine crash between syncs can leave) is set aside
// and the store opens empty and works.
func TestBoltDamaged(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		put(t, s, fmt.Sprintf("CA%02d", i), "A", Online)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, cleanMarker)) // as if the machine stopped
	path := filepath.Join(dir, BoltFile)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Pages written in the wrong order: every page after the two meta pages is garbage.
	st, _ := f.Stat()
	junk := bytes.Repeat([]byte{0xa5}, int(st.Size())-2*os.Getpagesize())
	if _, err := f.WriteAt(junk, int64(2*os.Getpagesize())); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := CheckBolt(path); err == nil {
		t.Fatal("CheckBolt passed a damaged file")
	}

	r := openTestBolt(t, dir)
	aside, why := r.SetAside()
	if aside == "" || why == nil {
		t.Fatalf("the damaged file was not set aside (%q, %v)", aside, why)
	}
	if _, err := os.Stat(aside); err != nil {
		t.Errorf("the damaged file is not kept where SetAside says: %v", err)
	}
	if got := topicSIDs(t, r, "A"); len(got) != 0 {
		t.Errorf("the new store holds %v", got)
	}
	put(t, r, "CAnew", "A", Online)
	assertSIDs(t, "Topic(A) in the new store", topicSIDs(t, r, "A"), "CAnew")
}

// lastTxID is the id of the store's last committed transaction.
func lastTxID(s *Bolt) int {
	var id int
	s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
	return id
}

// TestBoltNoopUpdate: an update that stores nothing commits nothing (no write to the file).
func TestBoltNoopUpdate(t *testing.T) {
	s := openTestBolt(t, t.TempDir())
	put(t, s, "CA1", "A", Online)
	txid := func() int { return lastTxID(s) }
	before := txid()
	mustUpdate(t, s, "CA1", func(*Call, bool) bool { return false })
	mustUpdate(t, s, "CAnone", func(*Call, bool) bool { return false })
	if after := txid(); after != before {
		t.Errorf("updates that stored nothing committed %d transactions", after-before)
	}
	put(t, s, "CA1", "A", Ended)
	if after := txid(); after != before+1 {
		t.Errorf("an update that stored: %d transactions; want 1", after-before)
	}
}

// TestBoltGathersConcurrentUpdates: updates of webhooks running at the same time are committed
// together. The first to find the store idle lets the others reach their updates before it
// commits: at saturation, 8 page writes per dial-in went down to 2.4. With one processor,
// the 16 updates below were 16 commits, each goroutine running to its end before the next.
func TestBoltGathersConcurrentUpdates(t *testing.T) {
	s := openTestBolt(t, t.TempDir())
	put(t, s, "CA0", "A", Online)
	txid := func() int { return lastTxID(s) }
	before := txid()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			<-start
			err := s.Update(context.Background(), fmt.Sprintf("CA%d", i+1), func(c *Call, _ bool) bool {
				c.TopicID, c.State = "A", Online
				return true
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := len(topicSIDs(t, s, "A")); got != 17 {
		t.Fatalf("%d calls online; want 17", got)
	}
	if n := txid() - before; n > 2 {
		t.Errorf("16 concurrent updates took %d commits; want them gathered in at most 2", n)
	}
}

// TestBoltOldFile: a file written when the live index was a bucket of its own opens with its
// calls indexed as before, and loses the old bucket.
func TestBoltOldFile(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, BoltFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		calls, _ := tx.CreateBucket(bucketCalls)
		live, _ := tx.CreateBucket(bucketLive)
		for sid, v := range map[string]string{
			"CAon":    `{"t":"A","s":"online","d":"Ann","at":"2026-11-25T10:00:00Z","v":3}`,
			"CAroute": `{"t":"A","s":"routing","at":"2026-11-25T10:00:00Z","v":1}`,
			"CAended": `{"t":"A","s":"ended","at":"2026-11-25T10:00:00Z","v":4}`,
			"CAb":     `{"t":"B","s":"online","at":"2026-11-25T10:00:00Z","v":2}`,
		} {
			calls.Put([]byte(sid), []byte(v))
			if sid != "CAended" {
				live.Put([]byte(v[6:7]+"\x00"+sid), nil)
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := openTestBolt(t, dir)
	assertSIDs(t, "Topic(A)", topicSIDs(t, s, "A"), "CAon", "CAroute")
	assertSIDs(t, "Topic(B)", topicSIDs(t, s, "B"), "CAb")
	if c, _, _ := s.Get(context.Background(), "CAon"); c.DisplayName != "Ann" || c.Version != 3 {
		t.Errorf("CAon: %+v", c)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketLive) != nil {
			t.Error("the old live bucket is still there")
		}
		return nil
	})
	put(t, s, "CAon", "A", Ended)
	assertSIDs(t, "Topic(A) after an end", topicSIDs(t, s, "A"), "CAroute")
}

// TestBoltDirInUse: a second store on a directory in use fails at once, and leaves the
// first one's file alone (it is not taken for damaged: the first has no clean marker while
// it runs).
func TestBoltDirInUse(t *testing.T) {
	dir := t.TempDir()
	s := openTestBolt(t, dir)
	put(t, s, "CA1", "A", Online)
	checked := false
	_, err := OpenBoltWith(dir, BoltOptions{Check: func(string) error { checked = true; return errors.New("damaged") }})
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second open: %v; want in use", err)
	}
	if checked {
		t.Error("the second open checked the first one's file")
	}
	if _, err := os.Stat(filepath.Join(dir, BoltFile)); err != nil {
		t.Errorf("the first store's file: %v", err)
	}
	assertSIDs(t, "the first store still works", topicSIDs(t, s, "A"), "CA1")
}

// TestBoltCommitPanics: a commit that panics (bbolt does on a damaged page) answers its
// update with an error and fails the store: later updates and Ping fail at once instead of
// waiting for ever, and the store is not marked closed cleanly, so its file is checked when
// next opened.
func TestBoltCommitPanics(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "CA1", "A", Online)
	ctx := context.Background()
	err = s.Update(ctx, "CA2", func(*Call, bool) bool { panic("invalid page type") })
	if err == nil || !strings.Contains(err.Error(), "invalid page type") {
		t.Fatalf("Update that panicked: %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping passes on a failed store")
	}
	if err := s.Update(ctx, "CA3", func(c *Call, _ bool) bool { c.State = Online; return true }); err == nil {
		t.Error("an update after the failure was accepted")
	}
	if err := s.Close(); err == nil {
		t.Error("Close of a failed store reports no error")
	}
	if _, err := os.Stat(filepath.Join(dir, cleanMarker)); err == nil {
		t.Error("a failed store was marked closed cleanly")
	}
	checked := false
	r, err := OpenBoltWith(dir, BoltOptions{Check: func(p string) error { checked = true; return CheckBolt(p) }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !checked {
		t.Error("the file of a failed store was not checked when opened")
	}
	assertSIDs(t, "Topic(A) after reopening", topicSIDs(t, r, "A"), "CA1")
}

// TestBoltCheckInconclusive: a check that could not run (it was killed, or could not lock
// the file) fails the open and leaves the file where it is; only ErrDamaged sets it aside.
func TestBoltCheckInconclusive(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "CA1", "A", Online)
	s.Close()
	os.Remove(filepath.Join(dir, cleanMarker))
	_, err = OpenBoltWith(dir, BoltOptions{Check: func(string) error { return errors.New("check-store: signal: killed") }})
	if err == nil {
		t.Fatal("open went on after an inconclusive check")
	}
	aside, _ := filepath.Glob(filepath.Join(dir, BoltFile+".damaged-*"))
	if len(aside) != 0 {
		t.Fatalf("an inconclusive check set the file aside: %v", aside)
	}
	r := openTestBolt(t, dir) // checked again (the marker is still missing), and whole
	assertSIDs(t, "Topic(A)", topicSIDs(t, r, "A"), "CA1")
}

// TestBoltSweepInBatches: a sweep over more records than one read or one commit takes
// deletes exactly the stale ones (tombstones past TombstoneTTL, calls routing past
// RoutingTTL), counts them, and leaves the rest and the live index alone.
func TestBoltSweepInBatches(t *testing.T) {
	s, err := OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	staleN, freshN := 3*sweepScan+7, 2*sweepScan+5 // several reads, and many commits
	fillTombstones(t, s, "0", staleN, now.Add(-2*TombstoneTTL))
	fillTombstones(t, s, "1", freshN, now.Add(-TombstoneTTL/2))
	put := func(sid string, st State, since time.Time) {
		err := s.Update(ctx, sid, func(c *Call, found bool) bool {
			c.State, c.TopicID, c.Since = st, "t1", since
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put("CAold-routing", Routing, now.Add(-2*RoutingTTL))
	put("CAnew-routing", Routing, now.Add(-time.Minute))
	put("CAonline", Online, now.Add(-2*RoutingTTL))

	n, err := s.Sweep(ctx, now)
	if err != nil || n != staleN+1 {
		t.Fatalf("Sweep = %d, %v; want %d, nil", n, err, staleN+1)
	}
	var left int
	s.db.View(func(tx *bolt.Tx) error {
		left = tx.Bucket(bucketCalls).Stats().KeyN
		return nil
	})
	if want := freshN + 2; left != want {
		t.Errorf("%d calls left; want %d", left, want)
	}
	live, err := s.Topic(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, c := range live {
		sids = append(sids, c.CallSID)
	}
	slices.Sort(sids)
	if want := []string{"CAnew-routing", "CAonline"}; !slices.Equal(sids, want) {
		t.Errorf("topic holds %v; want %v", sids, want)
	}
	if n, err := s.Sweep(ctx, now); n != 0 || err != nil {
		t.Errorf("second Sweep = %d, %v; want 0, nil", n, err)
	}
}

// TestStateAndSince: the sweep's shortcut reads a stored call's state and time exactly as
// decoding it does, whatever its text fields hold, and refuses what is not a call.
func TestStateAndSince(t *testing.T) {
	since := time.Date(2026, 11, 25, 10, 4, 5, 123456789, time.FixedZone("x", 3600))
	tricky := []string{"", `"s":"online"`, `,"at":"2020-01-01T00:00:00Z"`, `\`, `{"s":"ended"}`, "Ann \u2028 Lee"}
	for _, st := range []State{Routing, Online, Ended} {
		for _, text := range tricky {
			c := Call{TopicID: text, State: st, Since: since, Identity: Identity{DisplayName: text, Masked: text}}
			v, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := stateAndSince(v)
			if err != nil || got.State != st || !got.Since.Equal(since) {
				t.Errorf("stateAndSince(%s) = %s %v, %v; want %s %v", v, got.State, got.Since, err, st, since)
			}
		}
	}
	for _, bad := range []string{``, `{`, `not json`, `{"s":"ended","at":"yesterday"}`} {
		if _, err := stateAndSince([]byte(bad)); err == nil {
			t.Errorf("stateAndSince(%q) succeeded; want an error", bad)
		}
	}
}

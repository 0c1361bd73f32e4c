package roster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fillTombstones writes n tombstones, ended at since, straight into the store's file (as an
// hour of ended calls would have left it), sids prefixed by prefix.
func fillTombstones(tb testing.TB, s *Bolt, prefix string, n int, since time.Time) {
	tb.Helper()
	const chunk = 20000
	for start := 0; start < n; start += chunk {
		err := s.db.Update(func(tx *bolt.Tx) error {
			calls := tx.Bucket(bucketCalls)
			for i := start; i < min(start+chunk, n); i++ {
				sid := fmt.Sprintf("CA%s%030d", prefix, i)
				c := Call{TopicID: "5a1339868509b80641a56655", ConferenceSID: "CF00000000000000000000000000000001",
					Identity: Identity{DisplayName: "+1 ••• 0123", Masked: "+1 ••• 0123", Role: "guest"},
					State:    Ended, ConfSeq: 2, ConfSeen: true, CallSeq: 3, CallSeen: true, Since: since, Version: since.UnixMicro()}
				v, err := json.Marshal(c)
				if err != nil {
					return err
				}
				if err := calls.Put([]byte(sid), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkSweep500k sweeps a bolt store holding 500 000 tombstones, as an hour of dial-ins
// at about 150/s leaves, of which a minute's worth (8 000) are older than TombstoneTTL, while
// a webhook's update is applied over and over beside it. It reports how long the sweep took
// (ns/op) and how long the updates beside it took (p99-update-ms, max-update-ms): what a
// webhook waits. The same updates run alone for a second before each sweep (p99-alone-ms,
// max-alone-ms): what they take on this machine anyway.
func BenchmarkSweep500k(b *testing.B) {
	const (
		total = 500_000
		stale = 8_000
	)
	s, err := OpenBolt(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	fillTombstones(b, s, "0", total-stale, now.Add(-TombstoneTTL/2))
	ctx := context.Background()
	var alone, beside []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fillTombstones(b, s, "1", stale, now.Add(-2*TombstoneTTL))
		// The same updates alone first, for a second: what a webhook waits on this machine
		// anyway (other commits, the background sync, the scheduler).
		stopAlone := updateLoop(b, s, "3", now)
		time.Sleep(time.Second)
		alone = append(alone, stopAlone()...)
		stop := updateLoop(b, s, "2", now)
		time.Sleep(10 * time.Millisecond)
		b.StartTimer()
		n, err := s.Sweep(ctx, now)
		b.StopTimer()
		beside = append(beside, stop()...)
		if err != nil || n != stale {
			b.Fatalf("swept %d, %v; want %d", n, err, stale)
		}
		b.StartTimer()
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	slices.Sort(alone)
	slices.Sort(beside)
	b.ReportMetric(ms(beside[len(beside)*99/100]), "p99-update-ms")
	b.ReportMetric(ms(beside[len(beside)-1]), "max-update-ms")
	b.ReportMetric(ms(alone[len(alone)*99/100]), "p99-alone-ms")
	b.ReportMetric(ms(alone[len(alone)-1]), "max-alone-ms")
}

// updateLoop applies a webhook's update to new calls (sids prefixed by prefix) again and
// again until the returned function is called; that returns how long each update took.
func updateLoop(b *testing.B, s *Bolt, prefix string, now time.Time) (stop func() []time.Duration) {
	var (
		done atomic.Bool
		wg   sync.WaitGroup
		took []time.Duration
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; !done.Load(); n++ {
			sid := fmt.Sprintf("CA%s%031d", prefix, seq.Add(1))
			start := time.Now()
			err := s.Update(context.Background(), sid, func(c *Call, found bool) bool {
				c.State, c.TopicID, c.Since = Routing, "t1", now
				return true
			})
			if err != nil {
				b.Error(err)
				return
			}
			took = append(took, time.Since(start))
		}
	}()
	return func() []time.Duration {
		done.Store(true)
		wg.Wait()
		if len(took) < 2 {
			b.Fatalf("only %d updates ran", len(took))
		}
		return took
	}
}

var seq atomic.Int64

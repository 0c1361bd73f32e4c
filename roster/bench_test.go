package roster

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkBoltJoin measures a join (an incoming call and its join: two updates) applied to
// the bolt store by concurrent webhooks, each written to the file before it returns; those in
// flight together share commits.
func BenchmarkBoltJoin(b *testing.B) {
	for _, par := range []int{1, 32} {
		b.Run(fmt.Sprintf("inflight=%d", par), func(b *testing.B) {
			store, err := OpenBolt(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			r := New(store)
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(max(par/2, 1)) // GOMAXPROCS is 2 here
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					sid := fmt.Sprintf("CA%032d", n.Add(1))
					if _, err := r.Admit(ctx, sid, "t1", Identity{DisplayName: "x"}); err != nil {
						b.Fatal(err)
					}
					if _, err := r.Participant(ctx, sid, Participant{ConferenceSID: "CF1", TopicID: "t1", Seq: 1}, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

package presence_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/presence"
	"github.com/dialin-bridge/dialin-bridge/roster"
)

// TestUnreplicatedChangeIsPublished: with DIALIN_REDIS_MIN_REPLICAS=1 and no replica to
// acknowledge, the master stores each change and the webhook fails (503, so that Twilio sends
// it again). The change is made all the same, so its event goes out at once: the repeat
// changes nothing and owes nothing, and without it the room would never be shown the join,
// nor the leave.
func TestUnreplicatedChangeIsPublished(t *testing.T) {
	url := os.Getenv("DIALIN_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	prefix := fmt.Sprintf("unrepl%d:", time.Now().UnixNano())
	store, err := roster.OpenRedis(url, prefix, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	t.Cleanup(func() { // the shared test Redis keeps nothing of this test
		opt, err := redis.ParseURL(url)
		if err != nil {
			return
		}
		c := redis.NewClient(opt)
		defer c.Close()
		if keys, _ := c.Keys(context.Background(), prefix+"*").Result(); len(keys) > 0 {
			c.Del(context.Background(), keys...)
		}
	})
	sink := &recordingSink{}
	core := presence.New(presence.Options{Roster: roster.New(store), Rooms: testRooms(t), Sinks: []presence.Sink{sink}})
	ctx := context.Background()
	const sid = "CA00000000000000000000000000000077"
	if err := core.Admit(ctx, sid, topic, roster.Identity{DisplayName: "x"}); !errors.Is(err, roster.ErrNotReplicated) {
		t.Fatalf("admit = %v; want ErrNotReplicated (this Redis has no replica)", err)
	}
	steps := []struct {
		p    roster.Participant
		want string
	}{{join(1), mapper.CategoryOnline}, {join(1), ""}, {leave(2), mapper.CategoryLeaves}}
	for i, st := range steps {
		if _, err := core.Participant(ctx, sid, st.p); !errors.Is(err, roster.ErrNotReplicated) {
			t.Fatalf("step %d = %v; want ErrNotReplicated", i, err)
		}
		evs := sink.byCall()[sid]
		switch {
		case st.want == "" && len(evs) != i:
			t.Fatalf("step %d, a repeat: %d events, want still %d", i, len(evs), i)
		case st.want != "" && (len(evs) == 0 || evs[len(evs)-1].Category != st.want):
			t.Fatalf("step %d: events %v, want the last to be %s", i, evs, st.want)
		}
	}
}

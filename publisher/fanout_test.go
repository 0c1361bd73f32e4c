package publisher

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// failingFanout is a fan-out whose PUBLISH fails, or hangs until released.
type failingFanout struct {
	hang    chan struct{} // nil: fail at once
	mu      sync.Mutex
	sent    int
	started chan struct{}
	once    sync.Once
}

func (f *failingFanout) Send(ctx context.Context, msg []byte) error {
	if f.hang == nil {
		return errors.New("redis: connection refused")
	}
	f.once.Do(func() { close(f.started) })
	<-f.hang // past its timeout: the queue must stay full however slow the test runs
	if err := ctx.Err(); err != nil {
		return err
	}
	time.Sleep(time.Millisecond) // a round trip to Redis
	f.mu.Lock()
	f.sent++
	f.mu.Unlock()
	return nil
}

func (f *failingFanout) Run(ctx context.Context, deliver func([]byte), subscribed func()) {
	<-ctx.Done()
}
func (f *failingFanout) Check(context.Context) error { return nil }

// dropCounter counts the fan-out's drops by reason.
type dropCounter struct {
	nopObserver
	mu      sync.Mutex
	dropped map[string]int
}

func (d *dropCounter) FanoutDropped(reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dropped[reason]++
}

func (d *dropCounter) get(reason string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped[reason]
}

func party(i int) mapper.Event {
	return mapper.Online(mapper.Party{CallSID: "CA1", TopicID: "t1", Version: int64(i + 1)}, "x")
}

// TestFanoutDropsCounted: every event that does not reach the other instances, because
// its PUBLISH failed or the fan-out's queue was full, is counted by reason (issue 19,
// finding 2).
func TestFanoutDropsCounted(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Run("error", func(t *testing.T) {
		obs := &dropCounter{dropped: map[string]int{}}
		s := New(Options{Fanout: &failingFanout{}, Observer: obs}, log)
		s.Serve(nil)
		for i := range 3 {
			s.Publish(party(i))
		}
		for deadline := time.Now().Add(5 * time.Second); obs.get("error") < 3; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d failed PUBLISHes counted; want 3", obs.get("error"))
			}
		}
		s.Close()
	})
	t.Run("queue", func(t *testing.T) {
		obs := &dropCounter{dropped: map[string]int{}}
		fan := &failingFanout{hang: make(chan struct{}), started: make(chan struct{})}
		s := New(Options{Fanout: fan, Observer: obs}, log)
		s.Serve(nil)
		s.Publish(party(0))
		<-fan.started // the first is being sent: the queue holds the next fanoutQueue
		for i := range fanoutQueue + 10 {
			s.Publish(party(i + 1))
		}
		if n := obs.get("queue"); n != 10 {
			t.Errorf("%d events dropped for a full queue counted; want 10", n)
		}
		close(fan.hang)
		s.Close()
	})
}

// TestCloseSendsWhatIsQueued: Close hands the other instances every event published before
// it, before the fan-out stops (contract §4 Shutdown; issue 19, finding 3).
func TestCloseSendsWhatIsQueued(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fan := &failingFanout{hang: make(chan struct{}), started: make(chan struct{})}
	close(fan.hang) // each PUBLISH succeeds at once
	s := New(Options{Fanout: fan}, log)
	s.Serve(nil)
	for i := range 100 {
		s.Publish(party(i))
	}
	s.Close()
	fan.mu.Lock()
	defer fan.mu.Unlock()
	if fan.sent != 100 {
		t.Errorf("%d of 100 events published before Close reached the fan-out; want all", fan.sent)
	}
}

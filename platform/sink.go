package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// Removal policies of DIALIN_PLATFORM_REMOVALS.
const (
	RemovalsHangup = "hangup"
	RemovalsIgnore = "ignore"
)

// ErrUnknownParty marks a removal of a call that is not a phone party of the topic.
var ErrUnknownParty = mapper.ErrUnknownParty

// Roster is what the sink needs of the presence core (cmd/dialin-bridge passes the core to
// Run).
type Roster interface {
	// Parties returns one online event per phone party of the topic, in its current state.
	Parties(ctx context.Context, topicID string) ([]mapper.Event, error)
	// Remove hangs up a phone party of the topic, or returns ErrUnknownParty.
	Remove(ctx context.Context, topicID, callSID string) error
	// Live returns the online event of every phone party online in any topic, from the
	// store every instance shares.
	Live(ctx context.Context) ([]mapper.Event, error)
	// Current reports whether version is as new as every event of the call the bridge
	// showed: an answer or a replay read from the store before a change it then published
	// is not.
	Current(callSID string, version int64) bool
}

// Observer is told what happened, for metrics. kind is "event" (a change this instance
// made), "answer" (to a request.parties) or "replay" (after an outage); request is "parties" or
// "removal".
type Observer interface {
	Published(kind string)
	Answered(request string)
	Ignored(reason string)
	Lost(reason string)
	Up(up bool)
}

type nopObserver struct{}

func (nopObserver) Published(string) {}
func (nopObserver) Answered(string)  {}
func (nopObserver) Ignored(string)   {}
func (nopObserver) Lost(string)      {}
func (nopObserver) Up(bool)          {}

// Options configure a Sink.
type Options struct {
	Redis     redis.UniversalClient // the platform's Redis
	Key       string                // the adapter's key prefix
	Namespace string
	Rooms     Rooms
	Removals  string
	Observer  Observer
	Log       *slog.Logger
	// Check is how often the platform's Redis is pinged (default 1 s).
	Check time.Duration
	// ReplayEvery spaces the rounds that publish every party again after an outage (default
	// 1 s); they go on for ReplayFor (default 10 s) plus the outage's length, at most
	// maxReplay, or until every node that heard the bridge before the outage hears it again.
	ReplayEvery, ReplayFor time.Duration
}

// uidPrefix starts the uid of every bridge instance.
const uidPrefix = "dialin-bridge-"

// maxReplay caps the replay after an outage.
const maxReplay = 5 * time.Minute

// publishTimeout caps one PUBLISH.
const publishTimeout = 2 * time.Second

// queueSize bounds the events waiting for the writer; beyond it events are lost (and the
// parties published again once the writer catches up).
const queueSize = 4096

// Sink publishes presence events into the platform's rooms and answers its requests.
type Sink struct {
	o   Options
	uid string // this instance, in every message it publishes
	ros Roster // from Run

	queue    chan item
	parties  chan request // request.parties waiting to be answered
	removals chan request // removals waiting to be handled
	// recovered wakes the writer to publish every party again.
	recovered chan time.Duration

	up         atomic.Bool  // the platform's Redis answers and publishing works
	subscribed atomic.Bool  // the pattern subscription is live
	degraded   atomic.Bool  // an event was lost while up: publish every party again
	downSince  atomic.Int64 // unix nanoseconds, while down

	mu     sync.Mutex
	missed map[string]mapper.Event // leaves not published, by call, until replayed

	// The writer's own state.
	receivers int64 // how many subscribers heard the last publish before an outage
	replay    *episode
}

type item struct {
	ev   mapper.Event
	kind string
	// relay, when set, is an event of a room client's or an admin's (not a phone party's)
	// for ev.TopicID, published as it is.
	relay any
}

// New returns a Sink; Run runs it.
func New(o Options) *Sink {
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Check <= 0 {
		o.Check = time.Second
	}
	if o.ReplayEvery <= 0 {
		o.ReplayEvery = time.Second
	}
	if o.ReplayFor <= 0 {
		o.ReplayFor = 10 * time.Second
	}
	return &Sink{
		o:         o,
		uid:       uidPrefix + uuid.NewString(),
		queue:     make(chan item, queueSize),
		parties:   make(chan request, 4096), // a burst of 1000 in a second is answered whole
		removals:  make(chan request, 256),
		recovered: make(chan time.Duration, 1),
		missed:    make(map[string]mapper.Event),
	}
}

// UID is the id this instance publishes under.
func (s *Sink) UID() string { return s.uid }

// Publish queues ev for the platform. It never blocks: the roster calls it with the call
// locked.
func (s *Sink) Publish(ev mapper.Event) { s.enqueue(item{ev: ev, kind: "event"}) }

// Relay queues an event that is not a phone party's own (an admin's party.removed) for the
// topic's room. It never blocks; while the platform is down it is dropped (it describes an
// action, not a state to restore).
func (s *Sink) Relay(topicID string, payload any) {
	select {
	case s.queue <- item{ev: mapper.Event{TopicID: topicID}, kind: "relay", relay: payload}:
	default:
		s.o.Observer.Lost("queue")
	}
}

func (s *Sink) enqueue(it item) {
	select {
	case s.queue <- it:
	default:
		s.o.Observer.Lost("queue")
		s.lost(it.ev)
		s.degraded.Store(true)
	}
}

// lost remembers a leaves that did not reach the platform, to publish it again.
func (s *Sink) lost(ev mapper.Event) {
	if ev.Category != mapper.CategoryLeaves {
		return // the party's current state is published again from the store
	}
	s.mu.Lock()
	s.missed[ev.Sender.ID] = ev
	s.mu.Unlock()
}

// Run runs the sink until ctx is done, answering the platform's requests through ros, and
// returns when every goroutine it started has.
func (s *Sink) Run(ctx context.Context, ros Roster) {
	s.ros = ros
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){s.write, s.listen, s.answer, s.watch} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	wg.Wait()
}

// Ready reports whether the platform's Redis answers and the bridge hears its broadcasts.
func (s *Sink) Ready(ctx context.Context) error {
	if err := s.o.Redis.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("platform redis: %w", err)
	}
	if !s.subscribed.Load() {
		return errors.New("platform redis: subscription to the platform's broadcasts not live yet")
	}
	return nil
}

// watch pings the platform's Redis and wakes the writer when it answers again, or when an
// event was lost while it answered.
func (s *Sink) watch(ctx context.Context) {
	t := time.NewTicker(s.o.Check)
	defer t.Stop()
	first := true
	for {
		pctx, cancel := context.WithTimeout(ctx, min(s.o.Check, time.Second))
		err := s.o.Redis.Ping(pctx).Err()
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.markDown(err)
		case !s.up.Load():
			s.up.Store(true)
			s.o.Observer.Up(true)
			var down time.Duration
			if since := s.downSince.Load(); since != 0 {
				down = time.Duration(time.Now().UnixNano() - since)
			}
			if first && !s.degraded.Load() {
				down = -1 // the bridge just started: nothing was lost
			} else {
				s.o.Log.Info("platform redis answers again: publishing every party again", "down_for", down.Round(time.Millisecond))
			}
			s.degraded.Store(false)
			s.wake(down)
		case s.degraded.Swap(false):
			s.wake(0)
		}
		first = false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Sink) wake(down time.Duration) {
	if down < 0 {
		return
	}
	select {
	case s.recovered <- down:
	default: // a wake-up is pending
	}
}

// markDown records that the platform's Redis does not answer.
func (s *Sink) markDown(err error) {
	if s.up.CompareAndSwap(true, false) || s.downSince.Load() == 0 {
		s.downSince.Store(time.Now().UnixNano())
		s.o.Observer.Up(false)
		s.o.Log.Warn("platform redis unreachable: events for the platform are held back", "err", err)
	}
}

// write is the one goroutine that publishes, so that one call's events leave in the order
// they were made.
func (s *Sink) write(ctx context.Context) {
	t := time.NewTicker(s.o.ReplayEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-s.queue:
			s.publish(ctx, it)
		case down := <-s.recovered:
			s.startReplay(ctx, down)
		case <-t.C:
			if s.replay != nil {
				s.replayRound(ctx)
			}
		}
	}
}

// publish sends one event to its topic's room, unless a newer event of its call went first.
// It returns how many subscribers heard it, or -1.
func (s *Sink) publish(ctx context.Context, it item) int64 {
	if it.relay != nil {
		return s.publishRelay(ctx, it)
	}
	ev := it.ev
	if ev.Version != 0 && !s.ros.Current(ev.Sender.ID, ev.Version) {
		return -1 // an answer or replay read before a change that was published since
	}
	if !s.up.Load() {
		s.o.Observer.Lost("down")
		s.lost(ev)
		s.degraded.Store(true)
		return -1
	}
	room := s.o.Rooms.Room(ev.TopicID)
	msg, err := Encode(s.uid, s.o.Namespace, room, ev)
	if err != nil {
		s.o.Log.Error("encode event for the platform", "err", err)
		s.o.Observer.Lost("error")
		return -1
	}
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	n, err := s.o.Redis.Publish(pctx, Channel(s.o.Key, s.o.Namespace, room), msg).Result()
	cancel()
	if err != nil {
		s.o.Observer.Lost("error")
		s.lost(ev)
		s.markDown(err)
		return -1
	}
	s.o.Observer.Published(it.kind)
	if ev.Category == mapper.CategoryLeaves && it.kind == "event" {
		s.mu.Lock()
		delete(s.missed, ev.Sender.ID)
		s.mu.Unlock()
	}
	if s.replay == nil {
		s.receivers = n
	}
	return n
}

// publishRelay sends a relayed event to its topic's room.
func (s *Sink) publishRelay(ctx context.Context, it item) int64 {
	if !s.up.Load() {
		s.o.Observer.Lost("down")
		return -1
	}
	room := s.o.Rooms.Room(it.ev.TopicID)
	msg, err := encode(s.uid, s.o.Namespace, room, it.relay)
	if err != nil {
		s.o.Log.Error("encode event for the platform", "err", err)
		s.o.Observer.Lost("error")
		return -1
	}
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	n, err := s.o.Redis.Publish(pctx, Channel(s.o.Key, s.o.Namespace, room), msg).Result()
	cancel()
	if err != nil {
		s.o.Observer.Lost("error")
		s.markDown(err)
		return -1
	}
	s.o.Observer.Published(it.kind)
	return n
}

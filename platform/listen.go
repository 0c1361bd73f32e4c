package platform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// claimTTL is how long a request's claim lasts: longer than any instance takes to see the
// request, so that exactly one instance answers it, and short enough that the same client
// asking again later (after a reconnect, say) is answered again (contract §5).
const claimTTL = 5 * time.Second

// maxClaimID bounds an event _id used as a claim's key; a longer one is hashed.
const maxClaimID = 128

// How many requests are answered at once: a request.parties reads the store, a removal
// waits on Twilio (up to requestTimeout), and neither kind waits behind the other.
const (
	partiesWorkers = 16
	removalWorkers = 4
)

// requestTimeout caps the work one request causes (a Twilio hang-up included).
const requestTimeout = 15 * time.Second

// maxCallSID bounds the call SID a removal names (Twilio's are 34 characters).
const maxCallSID = 64

// request is a room request the platform broadcast, on its way to the answering goroutine.
type request struct {
	claim    string // identifies the broadcast, the same on every instance
	topicID  string
	category string
	attendee string
}

// listen reads what the platform's nodes broadcast. The read loop only decodes (bounded
// work) and hands requests on; answering them is another goroutine's.
func (s *Sink) listen(ctx context.Context) {
	ps := s.o.Redis.PSubscribe(ctx, Pattern(s.o.Key, s.o.Namespace))
	defer ps.Close()
	backoff := 100 * time.Millisecond
	for {
		// A timeout lets the loop see ctx end: a blocked read does not.
		m, err := ps.ReceiveTimeout(ctx, time.Second)
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			if ctx.Err() != nil {
				return
			}
			continue
		}
		if err != nil {
			s.subscribed.Store(false)
			if ctx.Err() != nil {
				return
			}
			// go-redis reconnects and subscribes again on the next Receive.
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		switch m := m.(type) {
		case *redis.Subscription:
			s.subscribed.Store(m.Kind == "psubscribe")
		case *redis.Message:
			s.heard([]byte(m.Payload))
		}
	}
}

// heard decodes one broadcast and hands on a request the bridge answers; everything else is
// ignored and counted.
func (s *Sink) heard(b []byte) {
	m, err := Decode(b)
	switch {
	case errors.Is(err, ErrTooLarge):
		s.o.Observer.Ignored("too_large")
		return
	case err != nil:
		s.o.Observer.Ignored("malformed")
		return
	case m.UID == s.uid:
		return // its own
	case strings.HasPrefix(m.UID, uidPrefix):
		s.o.Observer.Ignored("bridge") // another instance's event
		return
	case m.Type != packetEvent || m.Nsp != s.o.Namespace || m.Name != EventName:
		s.o.Observer.Ignored("other_event")
		return
	case m.Event.Category != mapper.CategoryRequestParties && m.Event.Category != mapper.CategoryRemoved:
		s.o.Observer.Ignored("category")
		return
	}
	topic, ok := s.topicOf(m)
	if !ok {
		s.o.Observer.Ignored("room")
		return
	}
	if m.Event.Category == mapper.CategoryRemoved && (m.Event.Attendee == "" || len(m.Event.Attendee) > maxCallSID) {
		s.o.Observer.Ignored("malformed")
		return
	}
	r := request{claim: claimOf(m, b), topicID: topic, category: m.Event.Category, attendee: m.Event.Attendee}
	queue := s.parties
	if r.category == mapper.CategoryRemoved {
		queue = s.removals
	}
	select {
	case queue <- r:
	default:
		s.o.Observer.Ignored("busy")
	}
}

// claimOf identifies a broadcast request alike on every instance: by its event's _id when it
// has one, else by a hash of the whole message. Two requests with the same _id are one
// request (the platform broadcast it once; a client asking again sends a new _id).
func claimOf(m Message, raw []byte) string {
	if id := m.Event.ID; id != "" && len(id) <= maxClaimID {
		return "id:" + id
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// topicOf is the one topic whose room the message went to. A message to several rooms, or
// whose event names another topic than its room's, is not a topic's request.
func (s *Sink) topicOf(m Message) (string, bool) {
	if len(m.Rooms) != 1 {
		return "", false
	}
	topic, ok := s.o.Rooms.Topic(m.Rooms[0])
	if !ok || (m.Event.TopicID != "" && m.Event.TopicID != topic) {
		return "", false
	}
	return topic, true
}

// answer answers the platform's requests, several at a time: request.parties and removals
// each have their own workers, so that hang-ups waiting on Twilio never hold up answers.
func (s *Sink) answer(ctx context.Context) {
	var wg sync.WaitGroup
	work := func(queue <-chan request, n int) {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-ctx.Done():
						return
					case r := <-queue:
						rctx, cancel := context.WithTimeout(ctx, requestTimeout)
						s.handle(rctx, r)
						cancel()
					}
				}
			}()
		}
	}
	work(s.parties, partiesWorkers)
	work(s.removals, removalWorkers)
	wg.Wait()
}

func (s *Sink) handle(ctx context.Context, r request) {
	if r.category == mapper.CategoryRemoved && s.o.Removals != RemovalsHangup {
		s.o.Observer.Ignored("removals_off")
		return
	}
	// Every instance hears the broadcast; the one that claims it first answers.
	claim := "dialin-bridge:platform-claim:" + s.o.Key + "#" + s.o.Namespace + "#" + r.claim
	won, err := s.o.Redis.SetNX(ctx, claim, s.uid, claimTTL).Result()
	switch {
	case err != nil:
		s.o.Observer.Lost("claim")
		s.o.Log.Warn("claim a platform request", "err", err)
		return
	case !won:
		s.o.Observer.Ignored("other_instance")
		return
	}
	log := s.o.Log.With("topic", r.topicID, "category", r.category)
	if r.category == mapper.CategoryRequestParties {
		events, err := s.ros.Parties(ctx, r.topicID)
		if err != nil {
			log.Error("list phone parties for the platform", "err", err)
			s.o.Observer.Lost("roster")
			return
		}
		for _, ev := range events {
			select {
			case s.queue <- item{ev: ev, kind: "answer"}:
			case <-ctx.Done():
				s.o.Observer.Lost("queue")
				return
			}
		}
		s.o.Observer.Answered("parties")
		return
	}
	switch err := s.ros.Remove(ctx, r.topicID, r.attendee); {
	case errors.Is(err, ErrUnknownParty):
		s.o.Observer.Ignored("unknown_party")
	case err != nil:
		log.Error("hang up a phone party the platform removed", "call_sid", r.attendee, "err", err)
		s.o.Observer.Lost("removal")
	default:
		log.Info("phone party removed by the platform", "call_sid", r.attendee)
		s.o.Observer.Answered("removal")
	}
}

package webparties

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Sharing through Redis: each topic is a hash of the web parties online in it. A field
// "i:<instance>:s:<connection>" is a party of one instance's own clients, good while that
// instance's liveness key (refreshed every aliveEvery, expiring after aliveTTL) is there; a
// field "p:<id>" is a party the platform showed, which every instance hears and writes alike.
const (
	aliveEvery = 10 * time.Second
	aliveTTL   = 3 * aliveEvery
	topicTTL   = PlatformTTL + time.Hour // a topic nobody touches goes
	opQueue    = 4096
	opTimeout  = 2 * time.Second
)

// op is one change to share: party nil is a leave.
type op struct {
	topic string
	key   string
	party *party
}

type shared struct {
	rdb      redis.UniversalClient
	prefix   string
	instance string
	ops      chan op
	dirty    atomic.Bool // an op was dropped: share everything again
	log      *slog.Logger
	written  map[string]bool // topics this instance wrote to (Run's goroutine only)
}

// NewShared returns a tracker that shares what it knows through rdb, under keys starting
// with prefix. Run must run for it to share anything.
func NewShared(rdb redis.UniversalClient, prefix string, log *slog.Logger) *Tracker {
	t := New()
	t.shared = &shared{rdb: rdb, prefix: prefix, instance: uuid.NewString(), ops: make(chan op, opQueue),
		log: log, written: map[string]bool{}}
	return t
}

func (s *shared) topicKey(topic string) string    { return s.prefix + "web:" + topic }
func (s *shared) aliveKey(instance string) string { return s.prefix + "web-alive:" + instance }

// queue hands a change to Run; when Run is too far behind, the next beat shares everything.
func (s *shared) queue(o op) {
	select {
	case s.ops <- o:
	default:
		s.dirty.Store(true)
	}
}

// Run shares this instance's changes until ctx is done, and then withdraws what it shared.
// Without Redis it only forgets platform parties gone quiet.
func (t *Tracker) Run(ctx context.Context) {
	beat := time.NewTicker(aliveEvery)
	defer beat.Stop()
	s := t.shared
	if s == nil {
		for {
			select {
			case <-ctx.Done():
				return
			case <-beat.C:
				t.sweep()
			}
		}
	}
	s.dirty.Store(true) // share everything at once
	t.beat(ctx)
	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			s.rdb.Del(dctx, s.aliveKey(s.instance))
			cancel()
			return
		case o := <-s.ops:
			t.apply(ctx, o)
		case <-beat.C:
			t.sweep()
			t.beat(ctx)
		}
	}
}

// apply shares one change.
func (t *Tracker) apply(ctx context.Context, o op) {
	s := t.shared
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	key, field := s.topicKey(o.topic), t.field(o.key)
	var err error
	if o.party == nil {
		err = s.rdb.HDel(ctx, key, field).Err()
	} else {
		b, _ := json.Marshal(o.party)
		_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, key, field, b)
			p.Expire(ctx, key, topicTTL)
			return nil
		})
		s.written[o.topic] = true
	}
	if err != nil {
		s.dirty.Store(true)
	}
}

// beat says this instance is alive and, after a lost change, shares everything again.
func (t *Tracker) beat(ctx context.Context) {
	s := t.shared
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.rdb.Set(ctx, s.aliveKey(s.instance), "1", aliveTTL).Err(); err != nil {
		s.log.Warn("web parties: cannot share this instance's", "err", err)
		return
	}
	if s.dirty.Swap(false) {
		if err := t.resync(ctx); err != nil {
			s.dirty.Store(true)
			s.log.Warn("web parties: cannot share this instance's", "err", err)
		}
	}
}

// resync writes everything this instance knows, and withdraws what it shared that is gone.
func (t *Tracker) resync(ctx context.Context) error {
	s := t.shared
	snap := t.snapshot()
	mine := "i:" + s.instance + ":"
	for topic := range snap {
		s.written[topic] = true
	}
	for topic := range s.written {
		have, err := s.rdb.HKeys(ctx, s.topicKey(topic)).Result()
		if err != nil {
			return err
		}
		parties := snap[topic]
		_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, f := range have {
				// The platform's parties are every instance's to write; only this instance's own
				// are withdrawn.
				if _, keep := parties[f]; !keep && strings.HasPrefix(f, mine) {
					p.HDel(ctx, s.topicKey(topic), f)
				}
			}
			for f, pa := range parties {
				b, _ := json.Marshal(pa)
				p.HSet(ctx, s.topicKey(topic), f, b)
			}
			if len(parties) > 0 {
				p.Expire(ctx, s.topicKey(topic), topicTTL)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(parties) == 0 {
			delete(s.written, topic)
		}
	}
	return nil
}

// present reads what every live instance shared of a topic, by field.
func (s *shared) present(ctx context.Context, topic string) (map[string]party, error) {
	fields, err := s.rdb.HGetAll(ctx, s.topicKey(topic)).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]party, len(fields))
	var instances []string
	for f, v := range fields {
		var p party
		if json.Unmarshal([]byte(v), &p) != nil {
			continue
		}
		out[f] = p
		if inst, ok := instanceOf(f); ok && !slices.Contains(instances, inst) {
			instances = append(instances, inst)
		}
	}
	if len(instances) == 0 {
		return out, nil
	}
	keys := make([]string, len(instances))
	for i, inst := range instances {
		keys[i] = s.aliveKey(inst)
	}
	alive, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	var dead []string
	for i, inst := range instances {
		if alive[i] != nil {
			continue
		}
		for f := range out {
			if got, _ := instanceOf(f); got == inst {
				delete(out, f)
				dead = append(dead, f)
			}
		}
	}
	if len(dead) > 0 {
		s.rdb.HDel(ctx, s.topicKey(topic), dead...) // what a stopped instance left; best effort
	}
	return out, nil
}

// instanceOf is the instance of a field "i:<instance>:<key>".
func instanceOf(field string) (string, bool) {
	rest, ok := strings.CutPrefix(field, "i:")
	if !ok {
		return "", false
	}
	inst, _, ok := strings.Cut(rest, ":")
	return inst, ok
}

// sortByTime orders parties by when they were heard of, oldest first.
func sortByTime(list []party) {
	slices.SortFunc(list, func(a, b party) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

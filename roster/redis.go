package roster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dialin-bridge/dialin-bridge/internal/redisurl"
)

// DefaultRedisPrefix prefixes every key the bridge writes to Redis.
const DefaultRedisPrefix = "dialin:"

// maxTxRetries bounds the optimistic retries of one Update under contention.
const maxTxRetries = 100

// Redis is a Store in Redis, shared by several bridge instances. Each call is one key; an
// Update is a WATCH/MULTI transaction on it, so two instances applying callbacks for the same
// call never interleave. Ended calls expire after TombstoneTTL.
//
// Keys: PREFIX call:SID (JSON), PREFIX topic:TOPIC (set of SIDs not ended), PREFIX live (set
// of all SIDs not ended).
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
	// replicas is how many replicas must hold a change before Update returns (WAIT); 0 for
	// none.
	replicas int
}

// ReplicaTimeout bounds how long an Update waits for replicas to hold its change. It leaves
// most of Twilio's 15 s for the rest of the webhook, and a failover's new master time to
// take its replicas back.
const ReplicaTimeout = 2 * time.Second

// ErrNotReplicated marks a change the master stored that too few replicas acknowledged in
// time: it is not acknowledged to Twilio (503), which sends it again.
var ErrNotReplicated = errors.New("too few Redis replicas hold the change")

// Unreplicated is the error of a change the store made that too few Redis replicas
// acknowledged in time (ErrNotReplicated, which it wraps). The change is made all the same:
// its event is owed now, as a repeat of the callback (Twilio's retry of a 503) changes
// nothing and owes none.
type Unreplicated struct {
	Change Change
	err    error
}

func (e *Unreplicated) Error() string { return e.err.Error() }
func (e *Unreplicated) Unwrap() error { return e.err }

var _ Store = (*Redis)(nil)

// OpenRedis connects to the Redis at url (redis:// or rediss://, or go-redis's failover URL
// naming Sentinels with master_name, whose client follows a promotion). It does not fail
// when Redis is down: operations fail until it answers. With replicas > 0 an Update
// returns only once that many replicas hold its change (see ErrNotReplicated).
func OpenRedis(url, prefix string, replicas int) (*Redis, error) {
	rdb, err := redisurl.New(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	r := NewRedis(rdb, prefix)
	r.replicas = replicas
	return r, nil
}

// NewRedis returns a store on an existing client.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &Redis{rdb: rdb, prefix: prefix}
}

// Client returns the Redis client, for other users of the same server.
func (r *Redis) Client() redis.UniversalClient { return r.rdb }

func (r *Redis) callKey(sid string) string    { return r.prefix + "call:" + sid }
func (r *Redis) topicKey(topic string) string { return r.prefix + "topic:" + topic }
func (r *Redis) liveKey() string              { return r.prefix + "live" }

// Update implements Store.
func (r *Redis) Update(ctx context.Context, sid string, fn func(c *Call, found bool) bool) error {
	key := r.callKey(sid)
	txf := func(tx *redis.Tx) error {
		stored, err := tx.Get(ctx, key).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
			stored = nil
		case err != nil:
			return err
		}
		u, err := updateCall(sid, stored, fn)
		if err != nil {
			return err
		}
		if !u.save {
			if !u.found || r.replicas == 0 {
				return nil
			}
			// Nothing to change (a repeated callback): the change it repeats may be one
			// answered 503 because too few replicas held it. Write the call back as it is
			// (same value, same expiry) and wait for the replicas, so that this answer too
			// is given only once they hold it.
			_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.SetArgs(ctx, key, stored, redis.SetArgs{KeepTTL: true})
				return nil
			})
			if err != nil {
				return err
			}
			return r.waitReplicas(ctx, tx)
		}
		before, c := u.before, u.after
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			var ttl time.Duration // online calls stay until they end
			switch c.State {
			case Ended:
				ttl = TombstoneTTL
			case Routing, Dialing, Waiting:
				ttl = RoutingTTL
			}
			p.Set(ctx, key, u.value, ttl)
			if u.found && before.State != Ended && (before.TopicID != c.TopicID || c.State == Ended) {
				p.SRem(ctx, r.topicKey(before.TopicID), sid)
			}
			if c.State == Ended {
				p.SRem(ctx, r.liveKey(), sid)
			} else {
				p.SAdd(ctx, r.topicKey(c.TopicID), sid)
				p.SAdd(ctx, r.liveKey(), sid)
			}
			return nil
		})
		if err != nil || r.replicas == 0 {
			return err
		}
		return r.waitReplicas(ctx, tx)
	}
	for i := 0; i < maxTxRetries; i++ {
		err := r.rdb.Watch(ctx, txf, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return fmt.Errorf("update call %s: too much contention", sid)
}

// waitReplicas sends WAIT on the connection that wrote: it returns once r.replicas replicas
// hold this connection's writes, or at the timeout with how many do.
func (r *Redis) waitReplicas(ctx context.Context, tx *redis.Tx) error {
	n, err := tx.Wait(ctx, r.replicas, ReplicaTimeout).Result()
	if err != nil {
		// The master took the change; whether any replica holds it is unknown.
		return fmt.Errorf("%w: wait for replicas: %v", ErrNotReplicated, err)
	}
	if n < int64(r.replicas) {
		return fmt.Errorf("%w: %d of %d in %v", ErrNotReplicated, n, r.replicas, ReplicaTimeout)
	}
	return nil
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, sid string) (Call, bool, error) {
	v, err := r.rdb.Get(ctx, r.callKey(sid)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Call{}, false, nil
	}
	if err != nil {
		return Call{}, false, err
	}
	c, err := decodeCall(sid, v)
	return c, err == nil, err
}

// Topic implements Store.
func (r *Redis) Topic(ctx context.Context, topicID string) ([]Call, error) {
	return r.members(ctx, r.topicKey(topicID))
}

// Live implements Store.
func (r *Redis) Live(ctx context.Context) ([]Call, error) {
	return r.members(ctx, r.liveKey())
}

func (r *Redis) members(ctx context.Context, set string) ([]Call, error) {
	sids, err := r.rdb.SMembers(ctx, set).Result()
	if err != nil || len(sids) == 0 {
		return nil, err
	}
	keys := make([]string, len(sids))
	for i, sid := range sids {
		keys[i] = r.callKey(sid)
	}
	vals, err := r.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Call, 0, len(sids))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			// Expired (a routing call never joined) or deleted meanwhile: forget it here.
			r.rdb.SRem(ctx, set, sids[i])
			continue
		}
		c, err := decodeCall(sids[i], []byte(s))
		if err != nil {
			return nil, err
		}
		if c.State != Ended {
			out = append(out, c)
		}
	}
	return out, nil
}

// Sweep implements Store. Stale calls expire by themselves in Redis (see Update); Sweep only
// drops members of the live set whose call key is gone. Topic sets are cleaned as they are
// read.
func (r *Redis) Sweep(ctx context.Context, now time.Time) (int, error) {
	sids, err := r.rdb.SMembers(ctx, r.liveKey()).Result()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, sid := range sids {
		exists, err := r.rdb.Exists(ctx, r.callKey(sid)).Result()
		if err != nil {
			return n, err
		}
		if exists == 0 {
			r.rdb.SRem(ctx, r.liveKey(), sid)
			n++
		}
	}
	return n, nil
}

// Ping implements Store.
func (r *Redis) Ping(ctx context.Context) error {
	return r.rdb.Ping(ctx).Err()
}

// Close implements Store.
func (r *Redis) Close() error { return r.rdb.Close() }

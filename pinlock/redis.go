package pinlock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Redis counts wrong PINs in Redis, shared by every instance: each number's wrong PINs are a
// sorted set of their times, and a lockout a key that expires with it.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
}

// NewRedis returns a counter kept in rdb under keys starting with prefix.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, prefix: prefix, now: time.Now}
}

func (r *Redis) failKey(k string) string { return r.prefix + "pin:fail:" + k }
func (r *Redis) lockKey(k string) string { return r.prefix + "pin:lock:" + k }

// Locked reports whether number is locked out now.
func (r *Redis) Locked(ctx context.Context, number string) (bool, error) {
	n, err := r.rdb.Exists(ctx, r.lockKey(key(number))).Result()
	if err != nil {
		return false, fmt.Errorf("read PIN lockout: %w", err)
	}
	return n > 0, nil
}

// Wrong counts a wrong PIN from number. locked says whether the number is locked out now;
// lockedNow whether this PIN locked it (on exactly one instance).
func (r *Redis) Wrong(ctx context.Context, number string) (locked, lockedNow bool, err error) {
	k := key(number)
	now := r.now()
	var card *redis.IntCmd
	var lockedAlready *redis.IntCmd
	_, err = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		lockedAlready = p.Exists(ctx, r.lockKey(k))
		p.ZRemRangeByScore(ctx, r.failKey(k), "-inf", strconv.FormatInt(now.Add(-Window).UnixMicro(), 10))
		p.ZAdd(ctx, r.failKey(k), redis.Z{Score: float64(now.UnixMicro()), Member: uuid.NewString()})
		card = p.ZCard(ctx, r.failKey(k))
		p.PExpire(ctx, r.failKey(k), Window)
		return nil
	})
	if err != nil {
		return false, false, fmt.Errorf("count wrong PIN: %w", err)
	}
	if lockedAlready.Val() > 0 {
		return true, false, nil
	}
	if card.Val() < MaxWrong {
		return false, false, nil
	}
	won, err := r.rdb.SetNX(ctx, r.lockKey(k), "1", LockFor).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, false, fmt.Errorf("lock out number: %w", err)
	}
	if won {
		r.rdb.Del(ctx, r.failKey(k)) // the count starts again after the lockout
	}
	return true, won, nil
}

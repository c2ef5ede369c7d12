package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bsm/redislock"
	"github.com/redis/go-redis/v9"
)

// DefaultLockPrefix namespaces the Redis keys of RedisLocker when the caller
// gives no prefix.
const DefaultLockPrefix = "onboarding:lock:"

// Backoff between two Obtain attempts on a held Redis key: it doubles from
// the minimum up to the maximum, so a short critical section is noticed
// quickly while a long one costs at most five requests a second per waiter.
const (
	redisLockMinBackoff = 10 * time.Millisecond
	redisLockMaxBackoff = 200 * time.Millisecond
)

// RedisLocker is a Locker on Redis (github.com/bsm/redislock), shared by
// every replica that uses the same Redis and prefix. A lock is a key holding a
// random token with a millisecond expiry, so a crashed holder frees it after
// its ttl.
type RedisLocker struct {
	client redis.UniversalClient
	locks  *redislock.Client
	prefix string
}

var _ Locker = (*RedisLocker)(nil)

// NewRedisLocker returns a locker that stores each key as prefix+key in
// client. An empty prefix means DefaultLockPrefix.
func NewRedisLocker(client redis.UniversalClient, prefix string) *RedisLocker {
	if prefix == "" {
		prefix = DefaultLockPrefix
	}
	return &RedisLocker{client: client, locks: redislock.New(client), prefix: prefix}
}

// Obtain implements Locker. It tries once per backoff step (10 ms doubling
// to 200 ms) until the key is free or ctx ends. Without a deadline on ctx it
// waits as long as the key stays held.
//
// The loop is here rather than in redislock's retry strategy for two reasons.
// redislock v0.9.4 gives up after ttl when ctx has no deadline, and checking
// each attempt's error separately tells a held key from an unreachable Redis.
func (l *RedisLocker) Obtain(ctx context.Context, key string, ttl time.Duration) (Lock, error) {
	if err := validateTTL(key, ttl); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, notObtained(ctx, key)
	}

	backoff := redislock.ExponentialBackoff(redisLockMinBackoff, redisLockMaxBackoff)
	var timer *time.Timer
	for attempt := 1; ; attempt++ {
		lock, err := l.locks.Obtain(ctx, l.prefix+key, ttl, nil)
		switch {
		case err == nil:
			return &redisLock{lock: lock, key: key}, nil
		case errors.Is(err, redislock.ErrNotObtained):
			// Held by another caller: wait below.
		case ctx.Err() != nil && attempt > 1:
			// Redis has already replied that the key is held, so ctx ending
			// during this attempt is a wait that ran out, not an outage.
			return nil, notObtained(ctx, key)
		default:
			return nil, fmt.Errorf("obtaining lock %q: %w: %w", key, ErrLockUnavailable, err)
		}

		wait := backoff.NextBackoff()
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return nil, notObtained(ctx, key)
		case <-timer.C:
		}
	}
}

// Ping implements Locker.
func (l *RedisLocker) Ping(ctx context.Context) error {
	if err := l.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("pinging redis: %w: %w", ErrLockUnavailable, err)
	}
	return nil
}

// redisLock is one acquisition of a RedisLocker key.
type redisLock struct {
	lock *redislock.Lock
	key  string
}

// Key implements Lock.
func (r *redisLock) Key() string {
	return r.key
}

// Refresh implements Lock.
func (r *redisLock) Refresh(ctx context.Context, ttl time.Duration) error {
	if err := validateTTL(r.key, ttl); err != nil {
		return err
	}

	err := r.lock.Refresh(ctx, ttl, nil)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redislock.ErrNotObtained):
		return fmt.Errorf("refreshing lock %q: %w", r.key, ErrLockNotHeld)
	default:
		return fmt.Errorf("refreshing lock %q: %w: %w", r.key, ErrLockUnavailable, err)
	}
}

// Release implements Lock. The token check and the delete run in one Lua
// script, so a lock that expired and was obtained by another caller stays.
func (r *redisLock) Release(ctx context.Context) error {
	err := r.lock.Release(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redislock.ErrLockNotHeld):
		return fmt.Errorf("releasing lock %q: %w", r.key, ErrLockNotHeld)
	default:
		return fmt.Errorf("releasing lock %q: %w: %w", r.key, ErrLockUnavailable, err)
	}
}

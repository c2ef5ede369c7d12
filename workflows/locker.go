package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Locker takes exclusive per-key locks across every replica that shares it.
// Implementations are safe for concurrent use.
type Locker interface {
	// Obtain waits until the lock on key is free or ctx ends, then holds the
	// lock for ttl unless refreshed or released. It returns an error wrapping
	// ErrLockNotObtained when ctx ends first and ErrLockUnavailable when the
	// lock service cannot be reached.
	Obtain(ctx context.Context, key string, ttl time.Duration) (Lock, error)
	// Ping checks that the lock service is reachable, for readiness probes.
	Ping(ctx context.Context) error
}

// Lock is one acquisition of a key. A Lock is not reusable: once released or
// expired, obtain a new one.
type Lock interface {
	// Key returns the key the lock was obtained for, without any prefix the
	// locker adds.
	Key() string
	// Refresh extends the lock to ttl from now. It returns an error wrapping
	// ErrLockNotHeld when the lock has expired or was released.
	Refresh(ctx context.Context, ttl time.Duration) error
	// Release frees the lock. Releasing an expired or already released lock
	// returns an error wrapping ErrLockNotHeld and leaves any newer holder's
	// lock in place. Callers log that error and never fail a finished request
	// because of it.
	Release(ctx context.Context) error
}

var (
	// ErrLockNotObtained means the context ended before the lock became free.
	ErrLockNotObtained = errors.New("lock not obtained before the context ended")
	// ErrLockUnavailable means the lock service (Redis) could not be reached
	// or timed out.
	ErrLockUnavailable = errors.New("lock service unavailable")
	// ErrLockNotHeld means the lock expired or was already released.
	ErrLockNotHeld = errors.New("lock not held")
)

// releaseTimeout bounds the Release call WithLock makes after fn returns. It
// uses a fresh context so that a cancelled request still frees its lock.
const releaseTimeout = 5 * time.Second

// LockOptions contains the optional callbacks of WithLock, which typically
// log. The zero value drops the errors that WithLock cannot return.
type LockOptions struct {
	// OnReleaseError receives the error of the Release that follows fn. Such
	// an error never fails WithLock because fn has already finished and the
	// lock expires at the end of its ttl anyway.
	OnReleaseError func(key string, err error)
	// OnRefreshError receives each failed background refresh.
	OnRefreshError func(key string, err error)
}

// WithLock runs fn while holding the lock on key. It obtains the lock, waiting
// at most until ctx ends, and refreshes it to ttl every ttl/3 while fn runs.
// When fn returns, WithLock releases the lock with a fresh context of at most
// 5 s, so that a cancelled ctx still frees the lock.
//
// It returns the Obtain error without calling fn, or else fn's error. A failed
// release never turns a successful fn into an error; it goes to
// opts.OnReleaseError. A refresh may find the lock lost (expired or taken
// over), or no refresh may succeed for a whole ttl. WithLock then cancels
// fn's context with a cause wrapping ErrLockNotHeld, so fn should check its
// context before any write that the lock protects.
func WithLock(ctx context.Context, l Locker, key string, ttl time.Duration, fn func(ctx context.Context) error, opts LockOptions) error {
	lock, err := l.Obtain(ctx, key, ttl)
	if err != nil {
		return err
	}

	fnCtx, cancel := context.WithCancelCause(ctx)
	refresherDone := make(chan struct{})
	go func() {
		defer close(refresherDone)
		refreshUntilDone(fnCtx, lock, ttl, cancel, opts.OnRefreshError)
	}()

	fnErr := fn(fnCtx)

	cancel(nil)
	<-refresherDone

	releaseCtx, releaseCancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer releaseCancel()
	if err := lock.Release(releaseCtx); err != nil && opts.OnReleaseError != nil {
		opts.OnReleaseError(key, err)
	}

	return fnErr
}

// refreshUntilDone refreshes lock every ttl/3 until ctx ends. It cancels ctx
// when the lock is lost or when no refresh has succeeded for a whole ttl, since
// another holder may own the key by then.
func refreshUntilDone(ctx context.Context, lock Lock, ttl time.Duration, cancel context.CancelCauseFunc, onError func(string, error)) {
	ticker := time.NewTicker(max(ttl/3, time.Millisecond))
	defer ticker.Stop()
	lastRefresh := time.Now()

	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}

		err := lock.Refresh(ctx, ttl)
		if err == nil {
			lastRefresh = time.Now()
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if onError != nil {
			onError(lock.Key(), err)
		}

		if errors.Is(err, ErrLockNotHeld) {
			cancel(fmt.Errorf("refreshing lock %q: %w", lock.Key(), err))
			return
		}
		if time.Since(lastRefresh) >= ttl {
			cancel(fmt.Errorf("lock %q not refreshed for %s, presumed expired: %w: %w", lock.Key(), ttl, ErrLockNotHeld, err))
			return
		}
	}
}

// validateTTL rejects ttls the lockers cannot honour. Redis keeps expiries in
// whole milliseconds, so both lockers require at least one.
func validateTTL(key string, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return fmt.Errorf("lock %q: invalid ttl %s: must be at least 1ms", key, ttl)
	}
	return nil
}

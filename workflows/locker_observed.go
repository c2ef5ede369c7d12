package workflows

import (
	"context"
	"time"
)

// ObservedLocker is a Locker that reports how long each Obtain took and how
// it ended, for metrics.
type ObservedLocker struct {
	Locker
	// Observe receives the wait and Obtain's error (nil when obtained).
	Observe func(wait time.Duration, err error)
}

// Obtain obtains the lock through the wrapped Locker and reports the wait.
func (l ObservedLocker) Obtain(ctx context.Context, key string, ttl time.Duration) (Lock, error) {
	start := time.Now()
	lock, err := l.Locker.Obtain(ctx, key, ttl)
	if l.Observe != nil {
		l.Observe(time.Since(start), err)
	}
	return lock, err
}

package workflows

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// lockerUnderTest is one locker plus a way to make a held key expire at once,
// the way a crashed holder's lock does after its ttl.
type lockerUnderTest struct {
	locker Locker
	expire func(t *testing.T, key string)
}

func TestLockerMemory(t *testing.T) {
	t.Parallel()
	runLockerContract(t, func(t *testing.T) lockerUnderTest {
		l := NewMemoryLocker()
		return lockerUnderTest{locker: l, expire: func(t *testing.T, key string) { expireMemoryKey(t, l, key) }}
	})
}

func TestLockerRedis(t *testing.T) {
	t.Parallel()
	if os.Getenv("ONBOARDING_TEST_REDIS_URL") == "" {
		t.Skip("ONBOARDING_TEST_REDIS_URL is not set")
	}
	runLockerContract(t, func(t *testing.T) lockerUnderTest {
		client := newTestRedisClient(t)
		prefix := randomLockPrefix(t)
		l := NewRedisLocker(client, prefix)
		return lockerUnderTest{locker: l, expire: func(t *testing.T, key string) {
			if err := client.Del(context.Background(), prefix+key).Err(); err != nil {
				t.Fatalf("deleting redis key %s: %v", prefix+key, err)
			}
		}}
	})
}

// runLockerContract checks the behaviour every Locker must have.
func runLockerContract(t *testing.T, newLocker func(t *testing.T) lockerUnderTest) {
	t.Run("mutual exclusion across 50 goroutines", func(t *testing.T) {
		t.Parallel()
		l := newLocker(t).locker

		const workers = 50
		var counter, inside, maxInside atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				lock, err := l.Obtain(ctx, "counter", 10*time.Second)
				if err != nil {
					errs <- err
					return
				}

				n := inside.Add(1)
				for {
					seen := maxInside.Load()
					if n <= seen || maxInside.CompareAndSwap(seen, n) {
						break
					}
				}
				// A read, a yield and a write: two holders at once would
				// lose an increment.
				value := counter.Load()
				runtime.Gosched()
				counter.Store(value + 1)
				inside.Add(-1)

				errs <- lock.Release(ctx)
			})
		}
		wg.Wait()
		close(errs)

		for err := range errs {
			if err != nil {
				t.Errorf("obtain or release: %v", err)
			}
		}
		if got := counter.Load(); got != workers {
			t.Errorf("counter = %d, want %d", got, workers)
		}
		if got := maxInside.Load(); got != 1 {
			t.Errorf("max holders at once = %d, want 1", got)
		}
	})

	t.Run("obtain times out while held", func(t *testing.T) {
		t.Parallel()
		l := newLocker(t).locker
		holder := mustObtain(t, l, "busy", 10*time.Second)
		defer releaseOrFail(t, holder)

		const wait = 150 * time.Millisecond
		start := time.Now()
		_, err := obtainWithin(l, "busy", time.Second, wait)
		elapsed := time.Since(start)

		if !errors.Is(err, ErrLockNotObtained) {
			t.Fatalf("obtain error = %v, want ErrLockNotObtained", err)
		}
		if !strings.Contains(err.Error(), `"busy"`) {
			t.Errorf("obtain error %q does not name the key", err)
		}
		if elapsed < wait {
			t.Errorf("obtain returned after %s, before its %s deadline", elapsed, wait)
		}
	})

	t.Run("expired lock is obtainable", func(t *testing.T) {
		t.Parallel()
		l := newLocker(t).locker
		const ttl = 150 * time.Millisecond
		mustObtain(t, l, "crashed", ttl)

		start := time.Now()
		lock, err := obtainWithin(l, "crashed", time.Second, 10*time.Second)
		elapsed := time.Since(start)

		if err != nil {
			t.Fatalf("obtain after expiry: %v", err)
		}
		releaseOrFail(t, lock)
		if elapsed < ttl/2 {
			t.Errorf("second obtain took %s, want about the %s ttl", elapsed, ttl)
		}
	})

	t.Run("release after expiry keeps newer holder", func(t *testing.T) {
		t.Parallel()
		l := newLocker(t).locker
		old := mustObtain(t, l, "shared", 100*time.Millisecond)
		newer, err := obtainWithin(l, "shared", 10*time.Second, 10*time.Second)
		if err != nil {
			t.Fatalf("obtain after expiry: %v", err)
		}

		if err := old.Release(context.Background()); !errors.Is(err, ErrLockNotHeld) {
			t.Errorf("release of expired lock = %v, want ErrLockNotHeld", err)
		}
		if err := old.Refresh(context.Background(), time.Second); !errors.Is(err, ErrLockNotHeld) {
			t.Errorf("refresh of expired lock = %v, want ErrLockNotHeld", err)
		}
		if _, err := obtainWithin(l, "shared", time.Second, 100*time.Millisecond); !errors.Is(err, ErrLockNotObtained) {
			t.Errorf("obtain while newer holder holds = %v, want ErrLockNotObtained", err)
		}
		if err := newer.Release(context.Background()); err != nil {
			t.Errorf("release by newer holder: %v", err)
		}
		if err := newer.Release(context.Background()); !errors.Is(err, ErrLockNotHeld) {
			t.Errorf("second release = %v, want ErrLockNotHeld", err)
		}
	})

	t.Run("refresh extends ttl", func(t *testing.T) {
		t.Parallel()
		l := newLocker(t).locker
		lock := mustObtain(t, l, "long", 150*time.Millisecond)
		if err := lock.Refresh(context.Background(), 10*time.Second); err != nil {
			t.Fatalf("refresh: %v", err)
		}

		// Without the refresh the lock would expire during this wait.
		if _, err := obtainWithin(l, "long", time.Second, 500*time.Millisecond); !errors.Is(err, ErrLockNotObtained) {
			t.Errorf("obtain of refreshed lock = %v, want ErrLockNotObtained", err)
		}
		if got := lock.Key(); got != "long" {
			t.Errorf("Key() = %q, want %q", got, "long")
		}
		releaseOrFail(t, lock)
		if err := lock.Refresh(context.Background(), time.Second); !errors.Is(err, ErrLockNotHeld) {
			t.Errorf("refresh after release = %v, want ErrLockNotHeld", err)
		}
	})

	t.Run("distinct keys do not block", func(t *testing.T) {
		t.Parallel()
		l := newLocker(t).locker
		first := mustObtain(t, l, "key-a", 10*time.Second)
		defer releaseOrFail(t, first)

		second, err := obtainWithin(l, "key-b", 10*time.Second, 2*time.Second)
		if err != nil {
			t.Fatalf("obtain of another key while key-a is held: %v", err)
		}
		releaseOrFail(t, second)
	})

	t.Run("WithLock refreshes past ttl", func(t *testing.T) {
		t.Parallel()
		l := newLocker(t).locker
		const ttl = 150 * time.Millisecond

		var competitorErr, fnCtxErr error
		err := WithLock(context.Background(), l, "job", ttl, func(ctx context.Context) error {
			// This wait keeps fn running for several ttls.
			_, competitorErr = obtainWithin(l, "job", time.Second, 4*ttl)
			fnCtxErr = ctx.Err()
			return nil
		}, LockOptions{})

		if err != nil {
			t.Fatalf("WithLock: %v", err)
		}
		if !errors.Is(competitorErr, ErrLockNotObtained) {
			t.Errorf("obtain during WithLock = %v, want ErrLockNotObtained", competitorErr)
		}
		if fnCtxErr != nil {
			t.Errorf("fn context ended while the lock was refreshed: %v", fnCtxErr)
		}
		after, err := obtainWithin(l, "job", time.Second, time.Second)
		if err != nil {
			t.Fatalf("obtain after WithLock returned: %v", err)
		}
		releaseOrFail(t, after)
	})

	t.Run("WithLock returns fn error and releases", func(t *testing.T) {
		t.Parallel()
		l := newLocker(t).locker
		errFn := errors.New("fn failed")

		err := WithLock(context.Background(), l, "job", time.Second, func(context.Context) error {
			return errFn
		}, LockOptions{OnReleaseError: func(key string, err error) { t.Errorf("release of %s: %v", key, err) }})

		if !errors.Is(err, errFn) {
			t.Errorf("WithLock = %v, want fn's error", err)
		}
		after, err := obtainWithin(l, "job", time.Second, time.Second)
		if err != nil {
			t.Fatalf("obtain after WithLock returned: %v", err)
		}
		releaseOrFail(t, after)
	})

	t.Run("WithLock returns obtain error without calling fn", func(t *testing.T) {
		t.Parallel()
		l := newLocker(t).locker
		holder := mustObtain(t, l, "job", 10*time.Second)
		defer releaseOrFail(t, holder)

		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		called := false
		err := WithLock(ctx, l, "job", time.Second, func(context.Context) error {
			called = true
			return nil
		}, LockOptions{})

		if !errors.Is(err, ErrLockNotObtained) {
			t.Errorf("WithLock = %v, want ErrLockNotObtained", err)
		}
		if called {
			t.Error("fn ran without the lock")
		}
	})

	t.Run("WithLock cancels fn when lock lost", func(t *testing.T) {
		t.Parallel()
		subject := newLocker(t)
		var refreshErrs, releaseErrs atomic.Int64
		options := LockOptions{
			OnRefreshError: func(_ string, err error) {
				if errors.Is(err, ErrLockNotHeld) {
					refreshErrs.Add(1)
				}
			},
			OnReleaseError: func(_ string, err error) {
				if errors.Is(err, ErrLockNotHeld) {
					releaseErrs.Add(1)
				}
			},
		}

		var cause error
		err := WithLock(context.Background(), subject.locker, "job", 300*time.Millisecond, func(ctx context.Context) error {
			subject.expire(t, "job")
			select {
			case <-ctx.Done():
				cause = context.Cause(ctx)
			case <-time.After(10 * time.Second):
				t.Error("fn context not cancelled within 10s of losing the lock")
			}
			return nil
		}, options)

		if err != nil {
			t.Errorf("WithLock = %v, want nil because fn succeeded", err)
		}
		if !errors.Is(cause, ErrLockNotHeld) {
			t.Errorf("fn context cause = %v, want ErrLockNotHeld", cause)
		}
		if got := refreshErrs.Load(); got != 1 {
			t.Errorf("refresh errors reported = %d, want 1", got)
		}
		if got := releaseErrs.Load(); got != 1 {
			t.Errorf("release errors reported = %d, want 1", got)
		}
	})

	t.Run("invalid ttl rejected", func(t *testing.T) {
		t.Parallel()
		l := newLocker(t).locker

		_, err := l.Obtain(context.Background(), "job", 0)

		if err == nil || errors.Is(err, ErrLockNotObtained) || errors.Is(err, ErrLockUnavailable) {
			t.Errorf("obtain with ttl 0 = %v, want an invalid ttl error", err)
		}
	})

	t.Run("ping succeeds", func(t *testing.T) {
		t.Parallel()
		l := newLocker(t).locker

		if err := l.Ping(context.Background()); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

func TestLockerRedisUnreachable(t *testing.T) {
	t.Parallel()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening on a loopback port: %v", err)
	}
	addr := listener.Addr().String()
	if err := listener.Close(); err != nil {
		t.Fatalf("closing listener: %v", err)
	}
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = client.Close() })
	l := NewRedisLocker(client, "")

	t.Run("obtain fails quickly", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		start := time.Now()
		_, err := l.Obtain(ctx, "job", time.Second)
		elapsed := time.Since(start)

		if !errors.Is(err, ErrLockUnavailable) {
			t.Fatalf("obtain error = %v, want ErrLockUnavailable", err)
		}
		if errors.Is(err, ErrLockNotObtained) {
			t.Errorf("obtain error %v also wraps ErrLockNotObtained", err)
		}
		if elapsed > 5*time.Second {
			t.Errorf("obtain took %s to report an unreachable redis, want under 5s", elapsed)
		}
		t.Logf("unreachable redis reported after %s", elapsed)
	})

	t.Run("ping fails", func(t *testing.T) {
		if err := l.Ping(context.Background()); !errors.Is(err, ErrLockUnavailable) {
			t.Errorf("Ping = %v, want ErrLockUnavailable", err)
		}
	})
}

func TestLockerMemoryQueue(t *testing.T) {
	t.Parallel()

	t.Run("waiters obtain in arrival order", func(t *testing.T) {
		t.Parallel()
		l := NewMemoryLocker()
		holder := mustObtain(t, l, "fifo", 10*time.Second)

		const waiters = 5
		order := make(chan int, waiters)
		var wg sync.WaitGroup
		for i := range waiters {
			wg.Go(func() {
				lock, err := obtainWithin(l, "fifo", 10*time.Second, 10*time.Second)
				if err != nil {
					t.Errorf("waiter %d: %v", i, err)
					return
				}
				order <- i
				if err := lock.Release(context.Background()); err != nil {
					t.Errorf("waiter %d release: %v", i, err)
				}
			})
			waitForMemoryWaiters(t, l, "fifo", i+1)
		}
		releaseOrFail(t, holder)
		wg.Wait()
		close(order)

		next := 0
		for got := range order {
			if got != next {
				t.Errorf("waiter %d obtained the lock in position %d", got, next)
			}
			next++
		}
		if next != waiters {
			t.Errorf("%d waiters obtained the lock, want %d", next, waiters)
		}
	})

	t.Run("idle keys are removed", func(t *testing.T) {
		t.Parallel()
		l := NewMemoryLocker()
		for i := range 1000 {
			lock := mustObtain(t, l, fmt.Sprintf("key-%d", i), time.Second)
			releaseOrFail(t, lock)
		}
		mustObtain(t, l, "expiring", 20*time.Millisecond)
		holder := mustObtain(t, l, "held", 10*time.Second)
		if _, err := obtainWithin(l, "held", time.Second, 20*time.Millisecond); !errors.Is(err, ErrLockNotObtained) {
			t.Fatalf("obtain of held key = %v, want ErrLockNotObtained", err)
		}
		releaseOrFail(t, holder)

		deadline := time.Now().Add(5 * time.Second)
		for memoryKeyCount(l) != 0 && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		if got := memoryKeyCount(l); got != 0 {
			t.Errorf("locker keeps %d keys after every lock ended, want 0", got)
		}
	})

	t.Run("cancelled waiters never strand the lock", func(t *testing.T) {
		t.Parallel()
		l := NewMemoryLocker()

		// Holders keep the lock for up to 2 ms while waiters give up after
		// up to 6 ms, so some grants race with cancellations.
		var wg sync.WaitGroup
		var obtained, timedOut atomic.Int64
		for i := range 200 {
			wg.Go(func() {
				lock, err := obtainWithin(l, "contended", time.Second, time.Duration(i%7)*time.Millisecond)
				if err != nil {
					timedOut.Add(1)
					return
				}
				obtained.Add(1)
				<-time.After(time.Duration(i%3) * time.Millisecond)
				_ = lock.Release(context.Background())
			})
		}
		wg.Wait()

		if obtained.Load() == 0 || timedOut.Load() == 0 {
			t.Fatalf("%d obtained and %d timed out, want both to happen", obtained.Load(), timedOut.Load())
		}

		lock, err := obtainWithin(l, "contended", time.Second, 100*time.Millisecond)
		if err != nil {
			t.Fatalf("obtain after every waiter ended: %v", err)
		}
		releaseOrFail(t, lock)
		if got := memoryKeyCount(l); got != 0 {
			t.Errorf("locker keeps %d keys, want 0", got)
		}
	})
}

// mustObtain obtains key within 5 s or fails the test.
func mustObtain(t *testing.T, l Locker, key string, ttl time.Duration) Lock {
	t.Helper()
	lock, err := obtainWithin(l, key, ttl, 5*time.Second)
	if err != nil {
		t.Fatalf("obtaining %s: %v", key, err)
	}
	return lock
}

// obtainWithin calls Obtain with a context that ends after wait.
func obtainWithin(l Locker, key string, ttl, wait time.Duration) (Lock, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return l.Obtain(ctx, key, ttl)
}

func releaseOrFail(t *testing.T, lock Lock) {
	t.Helper()
	if err := lock.Release(context.Background()); err != nil {
		t.Errorf("releasing %s: %v", lock.Key(), err)
	}
}

// expireMemoryKey ends the current acquisition of key as its ttl would.
func expireMemoryKey(t *testing.T, l *MemoryLocker, key string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()

	entry := l.entries[key]
	if entry == nil || entry.token == 0 {
		t.Fatalf("key %s is not held", key)
	}
	entry.timer.Stop()
	l.handOffLocked(key, entry)
}

func memoryKeyCount(l *MemoryLocker) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// waitForMemoryWaiters waits until n callers are queued on key.
func waitForMemoryWaiters(t *testing.T, l *MemoryLocker, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		queued := 0
		if entry := l.entries[key]; entry != nil {
			queued = len(entry.waiters)
		}
		l.mu.Unlock()
		if queued == n {
			return
		}
		runtime.Gosched()
	}
	t.Fatalf("%d waiters not queued on %s within 5s", n, key)
}

// newTestRedisClient connects to ONBOARDING_TEST_REDIS_URL. It skips when the
// variable is unset and fails when Redis does not reply to PING, so a
// configured but broken Redis never passes silently.
func newTestRedisClient(t *testing.T) *redis.Client {
	t.Helper()
	url := os.Getenv("ONBOARDING_TEST_REDIS_URL")
	if url == "" {
		t.Skip("ONBOARDING_TEST_REDIS_URL is not set")
	}
	options, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parsing ONBOARDING_TEST_REDIS_URL: %v", err)
	}
	client := redis.NewClient(options)
	t.Cleanup(func() { _ = client.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at ONBOARDING_TEST_REDIS_URL is unreachable: %v", err)
	}
	return client
}

// randomLockPrefix returns a key prefix of its own so that parallel tests and
// test runs never share a lock.
func randomLockPrefix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("reading random bytes: %v", err)
	}
	return "onboarding-test:lock:" + hex.EncodeToString(b) + ":"
}

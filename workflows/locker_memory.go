package workflows

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// MemoryLocker is an in-process Locker for a single replica (the embedded
// default). Waiters queue in arrival order and each released or expired lock
// passes to the longest waiting caller. Keys with no holder and no waiter are
// removed, so memory stays proportional to the keys in use.
type MemoryLocker struct {
	mu        sync.Mutex
	entries   map[string]*memoryEntry
	lastToken uint64
}

var _ Locker = (*MemoryLocker)(nil)

// memoryEntry is the state of one key. token identifies the current
// acquisition and is 0 while the key is free.
type memoryEntry struct {
	token uint64
	// generation counts the expiry timers armed for this key. A timer whose
	// generation is stale does nothing, which covers a timer that had already
	// fired while a Refresh was re-arming it.
	generation uint64
	timer      *time.Timer
	waiters    []*memoryWaiter
}

// memoryWaiter is one blocked Obtain call. granted receives the token when
// the lock passes to it and has a buffer of one so the releaser never blocks.
type memoryWaiter struct {
	ttl     time.Duration
	granted chan uint64
}

// NewMemoryLocker returns an empty in-process locker.
func NewMemoryLocker() *MemoryLocker {
	return &MemoryLocker{entries: make(map[string]*memoryEntry)}
}

// Obtain implements Locker. It waits on a channel, without polling, until the
// key is free or ctx ends.
func (l *MemoryLocker) Obtain(ctx context.Context, key string, ttl time.Duration) (Lock, error) {
	if err := validateTTL(key, ttl); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, notObtained(ctx, key)
	}

	l.mu.Lock()
	entry := l.entries[key]
	if entry == nil {
		entry = &memoryEntry{}
		l.entries[key] = entry
	}
	if entry.token == 0 && len(entry.waiters) == 0 {
		token := l.grantLocked(key, entry, ttl)
		l.mu.Unlock()
		return &memoryLock{locker: l, key: key, token: token}, nil
	}
	waiter := &memoryWaiter{ttl: ttl, granted: make(chan uint64, 1)}
	entry.waiters = append(entry.waiters, waiter)
	l.mu.Unlock()

	select {
	case token := <-waiter.granted:
		return &memoryLock{locker: l, key: key, token: token}, nil
	case <-ctx.Done():
	}

	l.mu.Lock()
	if removeWaiter(entry, waiter) {
		l.forgetIfIdleLocked(key, entry)
		l.mu.Unlock()
		return nil, notObtained(ctx, key)
	}
	l.mu.Unlock()

	// The lock was granted while ctx ended: pass it on to the next waiter.
	token := <-waiter.granted
	l.release(key, token)
	return nil, notObtained(ctx, key)
}

// Ping implements Locker. It always returns nil because the locker is in
// process.
func (l *MemoryLocker) Ping(context.Context) error {
	return nil
}

// grantLocked gives key to a new acquisition for ttl and returns its token.
func (l *MemoryLocker) grantLocked(key string, entry *memoryEntry, ttl time.Duration) uint64 {
	l.lastToken++
	entry.token = l.lastToken
	l.armLocked(key, entry, ttl)
	return entry.token
}

// armLocked (re)starts the expiry timer of the current acquisition of key.
func (l *MemoryLocker) armLocked(key string, entry *memoryEntry, ttl time.Duration) {
	if entry.timer != nil {
		entry.timer.Stop()
	}
	entry.generation++
	token, generation := entry.token, entry.generation
	entry.timer = time.AfterFunc(ttl, func() { l.expire(key, token, generation) })
}

// expire frees key when its ttl has passed without a refresh or release.
func (l *MemoryLocker) expire(key string, token, generation uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()

	entry := l.entries[key]
	if entry == nil || entry.token != token || entry.generation != generation {
		return
	}
	l.handOffLocked(key, entry)
}

// release frees key if token still holds it.
func (l *MemoryLocker) release(key string, token uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()

	entry := l.entries[key]
	if entry == nil || entry.token != token {
		return fmt.Errorf("releasing lock %q: %w", key, ErrLockNotHeld)
	}
	entry.timer.Stop()
	l.handOffLocked(key, entry)
	return nil
}

// refresh re-arms the expiry of key if token still holds it.
func (l *MemoryLocker) refresh(key string, token uint64, ttl time.Duration) error {
	if err := validateTTL(key, ttl); err != nil {
		return err
	}

	l.mu.Lock()
	defer l.mu.Unlock()

	entry := l.entries[key]
	if entry == nil || entry.token != token {
		return fmt.Errorf("refreshing lock %q: %w", key, ErrLockNotHeld)
	}
	l.armLocked(key, entry, ttl)
	return nil
}

// handOffLocked passes key to its first waiter, or frees and deletes it when
// no caller waits.
func (l *MemoryLocker) handOffLocked(key string, entry *memoryEntry) {
	entry.timer = nil
	entry.token = 0
	if len(entry.waiters) == 0 {
		l.forgetIfIdleLocked(key, entry)
		return
	}

	next := entry.waiters[0]
	entry.waiters[0] = nil
	entry.waiters = entry.waiters[1:]
	next.granted <- l.grantLocked(key, entry, next.ttl)
}

// forgetIfIdleLocked removes key when no caller holds or waits for it.
func (l *MemoryLocker) forgetIfIdleLocked(key string, entry *memoryEntry) {
	if entry.token == 0 && len(entry.waiters) == 0 && l.entries[key] == entry {
		delete(l.entries, key)
	}
}

// removeWaiter removes waiter from the queue and reports whether it was still
// queued, that is, not granted the lock yet.
func removeWaiter(entry *memoryEntry, waiter *memoryWaiter) bool {
	for i, w := range entry.waiters {
		if w == waiter {
			entry.waiters = append(entry.waiters[:i], entry.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// notObtained builds the error for an Obtain whose ctx ended first.
func notObtained(ctx context.Context, key string) error {
	return fmt.Errorf("obtaining lock %q: %w: %w", key, ErrLockNotObtained, context.Cause(ctx))
}

// memoryLock is one acquisition of a MemoryLocker key.
type memoryLock struct {
	locker *MemoryLocker
	key    string
	token  uint64
}

// Key implements Lock.
func (m *memoryLock) Key() string {
	return m.key
}

// Refresh implements Lock.
func (m *memoryLock) Refresh(_ context.Context, ttl time.Duration) error {
	return m.locker.refresh(m.key, m.token, ttl)
}

// Release implements Lock.
func (m *memoryLock) Release(context.Context) error {
	return m.locker.release(m.key, m.token)
}

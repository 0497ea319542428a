package core

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// MaxLimit is the largest limit of a Semaphore.
const MaxLimit = 1024

// SlotKey returns the Redis key of slot i of the semaphore called name:
// Key(name) + ":slot:" + i. Its fencing counter and release channel are
// that key with ":fence" and ":released" appended. A slot key ends in a
// digit, so it never equals a key of a Mutex's lock (which ends in "}" or
// in a suffix after it), of another semaphore's slot or of an election;
// it has the name's hash tag, so every key of a semaphore shares one
// Redis Cluster slot.
func SlotKey(name string, slot int) string { return Key(name) + ":slot:" + strconv.Itoa(slot) }

// slotName is how errors and events name slot i of the semaphore called
// name: "name[i]".
func slotName(name string, slot int) string { return name + "[" + strconv.Itoa(slot) + "]" }

// Semaphore is a handle for one named semaphore of a Locker: a lock that
// up to limit owners hold at once. Make it with Locker.NewSemaphore. Its
// methods are safe for concurrent use, and take turns: one Semaphore holds
// at most one slot at a time. With the default owner, granularity.Handle(),
// the Semaphore value itself is the owner.
//
// A semaphore is limit slot locks, each an ordinary lock of this package
// with keys of its own (SlotKey), and a holder holds exactly one of them;
// the package doc (Semaphores) says why that keeps the number of holders
// at most limit, and why counting holders on each node would not.
//
// Options apply to every slot: the TTL, keep-alive, fencing (each slot has
// its own counter, so a token increases across the successive holders of
// one slot: give the resource the slot and the token), metadata. Errors
// and events name slot i of the semaphore called name "name[i]".
//
// The limit counts owners. Handles of a shared owner (granularity.Process,
// Host, Task) hold slots as that owner: a handle that finds the owner on
// the slot it tries refreshes it and holds it with the others, one that
// finds a free slot first takes that one. A Release of one of them
// releases its slot for every handle there. With an owner carried in the
// context (granularity.Task), one Semaphore holds a slot for one task at
// a time: use a Semaphore per task.
type Semaphore struct {
	name  string
	limit int
	slots []*Mutex // slot i's lock; all have the Semaphore's handle
	pol   *policy
	err   error         // invalid name, limit or options: every method returns it
	nodes *nodeSet      // for the release notifications
	turn  chan struct{} // held by the operation under way (see take)
	first int           // the slot an acquisition tries first: the last one won, at first random, to spread contenders; under turn

	mu   sync.Mutex
	held int // the slot of the current or last holding, -1 after Release or before any
}

// NewSemaphore returns a handle for the semaphore called name, which at
// most limit owners hold at once, with opts overriding the Locker's
// defaults. It does not touch the network.
//
// The name follows the rules of NewMutex. The limit must be from 1 to
// MaxLimit; every process must use the same limit for one name (a
// semaphore of a larger limit has more slots, and its holders would not
// be counted against a smaller one). An invalid name, limit or option
// does not panic: every method of the returned Semaphore then returns
// that error.
func (l *Locker) NewSemaphore(name string, limit int, opts ...Option) *Semaphore {
	s := &Semaphore{name: name, limit: limit, nodes: &l.c.nodeSet, turn: make(chan struct{}, 1), held: -1}
	s.pol, s.err = l.policyOf(opts)
	if err := checkName(name); err != nil {
		s.err = err
	} else if limit < 1 || limit > MaxLimit {
		s.err = fmt.Errorf("redlock: semaphore %q: the limit must be from 1 to %d, got %d", name, MaxLimit, limit)
	}
	if s.err != nil {
		return s
	}
	handle := newHandle()
	s.slots = make([]*Mutex, limit)
	for i := range s.slots {
		s.slots[i] = &Mutex{c: l.c, t: l.c.keyedTarget(slotName(name, i), SlotKey(name, i)), pol: s.pol, handle: handle}
	}
	s.first = rand.IntN(limit)
	return s
}

// Name returns the semaphore's name.
func (s *Semaphore) Name() string { return s.name }

// Limit returns the most owners that hold the semaphore at once.
func (s *Semaphore) Limit() int { return s.limit }

// take waits for the Semaphore's turn: its operations that may change
// which slot it holds run one at a time, so that it never holds two. When
// ctx ends first, it returns the failure of an operation that failed with
// sentinel.
func (s *Semaphore) take(ctx context.Context, sentinel error) error {
	select {
	case s.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return failure(ctx, s.name, sentinel, nil)
	}
}

func (s *Semaphore) give() { <-s.turn }

// slot returns the slot's lock of the current or last holding, nil when
// there is none.
func (s *Semaphore) slot() *Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held < 0 {
		return nil
	}
	return s.slots[s.held]
}

// Slot returns the slot of the current holding (from 0 to limit-1), or -1
// when the Semaphore holds none.
func (s *Semaphore) Slot() int {
	s.mu.Lock()
	k := s.held
	s.mu.Unlock()
	if k < 0 || s.slots[k].Err() != nil {
		return -1
	}
	return k
}

// TryAcquire makes one attempt to take a slot: the slot this Semaphore
// held last first (else one chosen at random for the handle), then the
// others in turn, one acquisition round each (see Mutex.TryLock; under
// contention a round asks its slot's gate node alone, so a held slot
// costs one call), until one is won. A Semaphore that holds a slot
// refreshes it instead, as Mutex.TryLock does, and tries no other.
//
// On success the Semaphore holds one slot until Until(). On failure it
// holds what it held before, and it returns an error that wraps
// ErrNotAcquired and each slot's error, with its NodeErrors, when every
// slot was held by others or refused; ctx.Err() when ctx ended; the error
// of a round in which so many nodes rejected the command that no quorum
// is left (ErrNodeRejected); or the Owner's error. What a failed round
// wrote is taken back as by Mutex.TryLock. It returns the name, limit or
// option error of NewSemaphore without touching the network.
func (s *Semaphore) TryAcquire(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	if err := s.take(ctx, ErrNotAcquired); err != nil {
		return err
	}
	defer s.give()
	s.mu.Lock()
	k := s.held
	s.mu.Unlock()
	start := s.first
	if k >= 0 {
		if s.slots[k].Err() == nil {
			return s.slots[k].TryLock(ctx) // a refresh of the slot held
		}
		start = k // ended: its keys may still be ours there
	}
	errs := make([]error, 1, s.limit+1)
	errs[0] = ErrNotAcquired
	for j := range s.limit {
		i := (start + j) % s.limit
		err := s.slots[i].TryLock(ctx)
		if err == nil {
			s.mu.Lock()
			s.held = i
			s.mu.Unlock()
			s.first = i
			return nil
		}
		if !errors.Is(err, ErrNotAcquired) || ctx.Err() != nil || hopeless(err) {
			return err
		}
		errs = append(errs, err)
	}
	return &opError{name: s.name, errs: errs}
}

// Acquire takes a slot, making attempts (see TryAcquire) spaced by the
// retry policy (see WithRetry) until one succeeds, the policy gives up,
// or ctx ends. While it waits, a release of any slot announced by a node
// that implements Subscriber ends the delay at once. Waiters of a
// semaphore are not queued, and no slot is handed over: every waiter that
// hears a release tries.
//
// On failure it returns the last attempt's error, which wraps
// ErrNotAcquired, and also ctx.Err() when ctx ended; it stops at an
// attempt in which so many nodes rejected the command that no quorum is
// left. Nothing the attempts created is left behind.
func (s *Semaphore) Acquire(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	var (
		policy backoff.BackOff
		timer  *time.Timer
		w      *releaseWatch
	)
	for {
		err := s.TryAcquire(ctx)
		if err == nil || !errors.Is(err, ErrNotAcquired) || ctx.Err() != nil || hopeless(err) {
			return err
		}
		if policy == nil {
			policy = s.pol.retry()
			channels := make([]string, len(s.slots))
			for i, m := range s.slots {
				channels[i] = m.t.waits.ch
			}
			var live bool
			w, live = watch(s.nodes, channels...)
			defer w.stop()
			if live {
				// A release between the attempt and the subscription went
				// unheard: make the policy's next attempt now.
				if policy.NextBackOff() == backoff.Stop {
					return err
				}
				continue
			}
		}
		delay := policy.NextBackOff()
		if delay == backoff.Stop {
			return err
		}
		if timer == nil {
			timer = time.NewTimer(delay)
			defer timer.Stop()
		} else {
			timer.Reset(delay)
		}
		select {
		case <-ctx.Done():
			return addCause(err, ctx.Err())
		case <-timer.C:
		case <-w.woken():
		}
	}
}

// Release releases the slot this Semaphore holds, as Mutex.Unlock
// releases a lock, and returns its result: nil once no quorum can still
// hold the slot for this owner; an error wrapping ErrNotHeld or
// ErrNotReleased otherwise (see Mutex.Unlock). Without a slot it returns
// an error wrapping ErrNotHeld and touches no node. Either way the
// Semaphore holds no slot afterwards.
func (s *Semaphore) Release(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	if err := s.take(ctx, ErrNotReleased); err != nil {
		return err
	}
	defer s.give()
	s.mu.Lock()
	k := s.held
	s.held = -1
	s.mu.Unlock()
	if k < 0 {
		return failure(ctx, s.name, ErrNotHeld, nil)
	}
	return s.slots[k].Unlock(ctx)
}

// Extend resets the TTL of the slot this Semaphore holds, as Mutex.Extend
// does, with its errors. Without a slot it returns an error wrapping
// ErrNotHeld and touches no node.
func (s *Semaphore) Extend(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	if err := s.take(ctx, ErrNotExtended); err != nil {
		return err
	}
	defer s.give()
	m := s.slot()
	if m == nil {
		return failure(ctx, s.name, ErrNotHeld, nil)
	}
	return m.Extend(ctx)
}

// Until returns the end of the validity window of the slot held (see
// Mutex.Until), the zero Time when none is.
func (s *Semaphore) Until() time.Time {
	if m := s.slot(); m != nil {
		return m.Until()
	}
	return time.Time{}
}

// Done returns a channel that is closed when the holding of the slot
// ends: at a loss (Err then wraps ErrLockLost) or at Release (see
// Mutex.Done). It is closed already when no slot is held. Call it after
// acquiring: each holding has a channel of its own.
func (s *Semaphore) Done() <-chan struct{} {
	if m := s.slot(); m != nil {
		return m.Done()
	}
	return closedChan
}

// Err returns nil while the Semaphore holds its slot; once the holding has
// ended, the reason (see Mutex.Err); ErrNotHeld when no slot was held.
func (s *Semaphore) Err() error {
	if m := s.slot(); m != nil {
		return m.Err()
	}
	return ErrNotHeld
}

// Fence returns the fencing token of the slot held (see WithFencing), or 0
// when none is or fencing is off. Tokens increase across the successive
// holders of one slot; each slot has its own counter, so a resource that
// checks tokens must keep the highest per slot (see Slot).
func (s *Semaphore) Fence() uint64 {
	if m := s.slot(); m != nil {
		return m.Fence()
	}
	return 0
}

// whenEnded calls fn with the reason when the current holding ends. It
// reports false when no slot is held.
func (s *Semaphore) whenEnded(fn func(error)) bool {
	if m := s.slot(); m != nil {
		return m.whenEnded(fn)
	}
	return false
}

// DoSemaphore runs fn while holding a slot of the semaphore called name,
// of limit slots: Do for a Semaphore. It acquires a slot as
// Semaphore.Acquire does, keeps it alive while fn runs, and releases it
// when fn returns or panics. fn's context is cancelled, with cause
// ErrLockLost, the moment the slot can no longer be proven held;
// SlotOf(ctx) gives fn the slot and, with WithFencing, FenceOf(ctx) its
// token. It returns what Do returns.
func (l *Locker) DoSemaphore(ctx context.Context, name string, limit int, fn func(ctx context.Context) error, opts ...Option) error {
	s := l.NewSemaphore(name, limit, append(slices.Clip(opts), WithKeepAlive(true))...)
	if err := s.Acquire(ctx); err != nil {
		return err
	}
	return runHeld(ctx, fn, s.pol.nodeTimeout, s.Fence(), s.Slot(), s.whenEnded, s.Release)
}

type slotKey struct{}

// SlotOf returns the semaphore slot that Locker.DoSemaphore holds for the
// fn it was given ctx by, or -1 when ctx carries none.
func SlotOf(ctx context.Context) int {
	if slot, ok := ctx.Value(slotKey{}).(int); ok {
		return slot
	}
	return -1
}

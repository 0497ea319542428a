package core_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/internal/testnode"
	"github.com/redlock-go/redlock/retry"
)

// slotHolders returns the servers on which slot i of the semaphore called
// name is held.
func (f *fixture) slotHolders(name string, i int) []int {
	f.T.Helper()
	var out []int
	for j, s := range f.Servers {
		v, err := s.Do("EXISTS", core.SlotKey(name, i))
		require.NoError(f.T, err)
		if v.(int64) == 1 {
			out = append(out, j)
		}
	}
	return out
}

// At most limit handles hold a semaphore; each holds a slot of its own,
// a release frees a slot for the next, and a holder's TryAcquire
// refreshes its slot. No key of the Mutex of the same name is written.
func TestSemaphoreLimit(t *testing.T) {
	f := newFixture(t, 3)
	var v conformance.Validities
	l := f.Locker(core.WithEvents(v.Record))
	a, b := l.NewSemaphore("pool", 2), l.NewSemaphore("pool", 2)
	c := f.Locker().NewSemaphore("pool", 2) // another process: the nodes refuse it
	assert.Equal(t, -1, a.Slot(), "no slot before acquiring")
	require.NoError(t, a.TryAcquire(f.Ctx))
	require.NoError(t, b.TryAcquire(f.Ctx))
	assert.ElementsMatch(t, []int{0, 1}, []int{a.Slot(), b.Slot()}, "each holder has a slot of its own")
	assert.True(t, time.Now().Before(a.Until()))

	err := c.TryAcquire(f.Ctx)
	require.ErrorIs(t, err, core.ErrNotAcquired, "a third holder of two slots")
	assert.ErrorIs(t, err, core.ErrHeldByOther)
	var ne *core.NodeError
	assert.ErrorAs(t, err, &ne)
	assert.Equal(t, -1, c.Slot())
	assert.True(t, c.Until().IsZero())
	assert.ErrorIs(t, c.Release(f.Ctx), core.ErrNotHeld)

	until, slot := a.Until(), a.Slot()
	require.NoError(t, a.TryAcquire(f.Ctx), "the holder refreshes its slot")
	assert.Equal(t, slot, a.Slot(), "a refresh keeps the slot")
	refresh := v.Last()
	assert.Equal(t, core.Acquired, refresh.Kind)
	assert.False(t, refresh.Began, "the refresh renewed the holding")
	v.AssertRenewed(t, a.Until(), until, "the refresh")
	require.NoError(t, a.Extend(f.Ctx))

	require.NoError(t, a.Release(f.Ctx))
	assert.Equal(t, -1, a.Slot())
	assert.ErrorIs(t, a.Err(), core.ErrNotHeld)
	require.NoError(t, c.TryAcquire(f.Ctx), "a released slot goes to the next")
	assert.Equal(t, slot, c.Slot())
	assert.Empty(t, f.Holders("pool"), "the semaphore wrote the Mutex's key")
	require.NoError(t, b.Release(f.Ctx))
	require.NoError(t, c.Release(f.Ctx))
	f.settle(l)
	for i := range 2 {
		assert.Empty(t, f.slotHolders("pool", i), "slot %d left behind", i)
	}
}

// A limit below 1 or above MaxLimit, and a bad name, are errors of every
// method; nothing is written.
func TestSemaphoreInvalid(t *testing.T) {
	f := newFixture(t, 1)
	l := f.Locker()
	for _, s := range []*core.Semaphore{l.NewSemaphore("s", 0), l.NewSemaphore("s", -3), l.NewSemaphore("s", core.MaxLimit+1)} {
		err := s.TryAcquire(f.Ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "limit must be from 1")
		assert.Equal(t, err, s.Acquire(f.Ctx))
		assert.Equal(t, err, s.Release(f.Ctx))
		assert.Equal(t, err, s.Extend(f.Ctx))
		assert.Equal(t, -1, s.Slot())
		assert.True(t, closed(s.Done()))
	}
	assert.Error(t, l.NewSemaphore("", 2).TryAcquire(f.Ctx))
	assert.Error(t, l.NewSemaphore("s", 2, core.WithTTL(-1)).TryAcquire(f.Ctx))
	err := l.DoSemaphore(f.Ctx, "s", 0, func(context.Context) error { t.Error("fn ran"); return nil })
	assert.ErrorContains(t, err, "limit must be from 1")
	v, err := f.Servers[0].Do("DBSIZE")
	require.NoError(t, err)
	assert.Equal(t, int64(0), v)
}

// The configuration that breaks a semaphore counting holders per node:
// holder 1 holds its slot on nodes 0 and 1, holder 2 its slot on nodes 0
// and 2. Nodes 1 and 2 each count one holder of two, so a third holder
// would get a majority, {1, 2}, from a counting design. Here each slot is
// still held by a quorum, so the third is refused, and leaves nothing.
func TestSemaphoreCounterexampleRefused(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker()
	one, two, three := l.NewSemaphore("split", 2), l.NewSemaphore("split", 2), l.NewSemaphore("split", 2)
	require.NoError(t, one.TryAcquire(f.Ctx))
	require.NoError(t, two.TryAcquire(f.Ctx))
	f.settle(l)
	s1, s2 := one.Slot(), two.Slot()
	_, err := f.Servers[2].Do("DEL", core.SlotKey("split", s1))
	require.NoError(t, err)
	_, err = f.Servers[1].Do("DEL", core.SlotKey("split", s2))
	require.NoError(t, err)
	require.Equal(t, []int{0, 1}, f.slotHolders("split", s1))
	require.Equal(t, []int{0, 2}, f.slotHolders("split", s2))

	err = three.TryAcquire(f.Ctx)
	require.ErrorIs(t, err, core.ErrNotAcquired, "a third holder with two slots held on two nodes each")
	f.settle(l)
	assert.Equal(t, []int{0, 1}, f.slotHolders("split", s1), "the refused round's undo")
	assert.Equal(t, []int{0, 2}, f.slotHolders("split", s2), "the refused round's undo")
	require.NoError(t, one.Extend(f.Ctx), "holder 1 still has a quorum")
	require.NoError(t, two.Extend(f.Ctx), "holder 2 still has a quorum")
}

// A slot whose holder stops extending it is free once it expires.
func TestSemaphoreSlotFreedByExpiry(t *testing.T) {
	f := newFixture(t, 3)
	const ttl = 300 * time.Millisecond
	l := f.Locker(core.WithTTL(ttl), core.WithRetry(retry.Random(10*time.Millisecond, 30*time.Millisecond)))
	a, b := l.NewSemaphore("expiring", 2), l.NewSemaphore("expiring", 2)
	require.NoError(t, a.TryAcquire(f.Ctx))
	require.NoError(t, b.TryAcquire(f.Ctx))
	first := a.Until()
	if b.Until().Before(first) {
		first = b.Until()
	}
	c := l.NewSemaphore("expiring", 2)
	require.ErrorIs(t, c.TryAcquire(f.Ctx), core.ErrNotAcquired)
	require.NoError(t, c.Acquire(f.Ctx), "a slot is freed by expiry")
	assert.False(t, time.Now().Before(first), "acquired before a holder's validity ended")
	assert.Contains(t, []int{0, 1}, c.Slot())
}

// A waiting Acquire wakes on the release of a slot, not at its policy's
// next round.
func TestSemaphoreAcquireWakesOnRelease(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker()
	holder := l.NewSemaphore("woken", 1)
	require.NoError(t, holder.TryAcquire(f.Ctx))
	acquired := make(chan time.Time, 1)
	waiter := l.NewSemaphore("woken", 1, core.WithRetry(retry.Constant(20*time.Second, 0)))
	go func() {
		if assert.NoError(t, waiter.Acquire(f.Ctx)) {
			acquired <- time.Now()
		}
	}()
	f.WaitSubscribed()
	released := time.Now()
	require.NoError(t, holder.Release(f.Ctx))
	select {
	case at := <-acquired:
		assert.Less(t, at.Sub(released), 2*time.Second, "the waiter woke on the release")
	case <-f.Ctx.Done():
		t.Fatal("the waiter never acquired")
	}
	require.NoError(t, waiter.Release(f.Ctx))
}

// A kept-alive slot outlives its TTL; when its keys are deleted, the holder
// is told through Done and Err, and can acquire again.
func TestSemaphoreKeepAliveAndLoss(t *testing.T) {
	f := newFixture(t, 3)
	const ttl = 600 * time.Millisecond
	l := f.Locker(core.WithTTL(ttl))
	s := l.NewSemaphore("kept", 3, core.WithKeepAlive(true))
	require.NoError(t, s.Acquire(f.Ctx))
	done := s.Done()
	require.NoError(t, conformance.Job(f.Ctx, 2*ttl))
	assert.NoError(t, s.Err(), "kept alive past two TTLs")
	assert.False(t, closed(done))
	f.OnAll("DEL", core.SlotKey("kept", s.Slot()))
	select {
	case <-done:
	case <-f.Ctx.Done():
		t.Fatal("the loss was not noticed")
	}
	assert.ErrorIs(t, s.Err(), core.ErrLockLost)
	assert.Equal(t, -1, s.Slot())
	require.NoError(t, s.Acquire(f.Ctx), "acquire again after a loss")
	assert.NoError(t, s.Err())
	require.NoError(t, s.Release(f.Ctx))
	assert.True(t, closed(s.Done()))
}

// DoSemaphore runs at most limit functions at once, each with its slot and
// fencing token; they all run in the end.
func TestDoSemaphore(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithFencing(), core.WithRetry(retry.Random(5*time.Millisecond, 20*time.Millisecond)))
	const workers, limit = 6, 2
	var running, most, ran atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := l.DoSemaphore(f.Ctx, "jobs", limit, func(ctx context.Context) error {
				n := running.Add(1)
				defer running.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				assert.Contains(t, []int{0, 1}, core.SlotOf(ctx), "worker %d", w)
				assert.NotZero(t, core.FenceOf(ctx), "worker %d", w)
				ran.Add(1)
				return conformance.Job(ctx, 50*time.Millisecond)
			})
			assert.NoError(t, err, "worker %d", w)
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(workers), ran.Load())
	assert.Equal(t, int32(limit), most.Load(), "at most limit at once, and limit reached")
	assert.Equal(t, -1, core.SlotOf(f.Ctx))
}

// Many contenders for two slots over three nodes, one of which drops,
// delays or loses replies at random: the history of holdings never has
// three holders within their validity, nor two on one slot.
func TestSemaphoreSafeUnderFaults(t *testing.T) {
	f := newFixture(t, 3)
	const (
		contenders = 6
		limit      = 2
		ttl        = time.Second
		run        = 2 * time.Second
	)
	actions := []testnode.Action{testnode.RunThenFail(nil), testnode.Lose(nil), testnode.RunThenLate()}
	for _, script := range []string{"acquire", "release", "undo"} {
		f.faulty[0].On(script, -1, func(ctx context.Context, c testnode.Call, run func(context.Context) (any, error)) (any, error) {
			if k := rand.IntN(2 * len(actions)); k < len(actions) {
				return actions[k](ctx, c, run)
			}
			return run(ctx)
		})
	}
	l := f.Locker(core.WithTTL(ttl), core.WithNodeTimeout(50*time.Millisecond),
		core.WithRetry(retry.Random(time.Millisecond, 10*time.Millisecond)))
	var h conformance.History
	end := time.Now().Add(run)
	var wg sync.WaitGroup
	for c := range contenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := l.NewSemaphore("faulty", limit)
			for time.Now().Before(end) {
				ctx, cancel := context.WithDeadline(f.Ctx, end)
				err := s.Acquire(ctx)
				cancel()
				if err != nil {
					continue
				}
				from, until, slot := time.Now(), s.Until(), s.Slot()
				_ = conformance.Job(f.Ctx, time.Duration(rand.IntN(20))*time.Millisecond)
				h.Add(fmt.Sprint("contender ", c), slot, from, earliest(time.Now(), until))
				_ = s.Release(f.Ctx)
			}
		}()
	}
	wg.Wait()
	f.faulty[0].Reset()
	h.Check(t, limit)
	assert.Greater(t, h.Len(), 20, "too few holdings to tell")
	if n, _ := h.MostAtOnce(); n < limit {
		t.Errorf("never %d holders at once: the semaphore held back", limit)
	}
}

// earliest returns the earlier of two times; a zero until counts as none.
func earliest(now, until time.Time) time.Time {
	if until.IsZero() || now.Before(until) {
		return now
	}
	return until
}

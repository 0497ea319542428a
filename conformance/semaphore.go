package conformance

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/retry"
)

// The cases of semaphores over the adapter's Nodes: the limit, the
// counterexample of a semaphore that counts holders per node, expiry and
// wake on release.
var semaphoreCases = []testCase{
	{"SemaphoreLimit", 3, testSemaphoreLimit, false},
	{"SemaphoreNeverOverLimit", 3, testSemaphoreNeverOverLimit, false},
	{"SemaphoreSlotFreedByExpiry", 3, testSemaphoreExpiry, false},
	{"SemaphoreReleaseWakesWaiter", 3, testSemaphoreWakes, false},
}

// slotHolders returns the running servers on which slot i of the
// semaphore called name exists.
func (f *Fixture) slotHolders(name string, i int) []int {
	f.T.Helper()
	var out []int
	for j, s := range f.Servers {
		if !s.Running() {
			continue
		}
		v, err := s.Do("EXISTS", core.SlotKey(name, i))
		require.NoError(f.T, err)
		if v.(int64) == 1 {
			out = append(out, j)
		}
	}
	return out
}

func testSemaphoreLimit(f *Fixture) {
	l := f.Locker()
	const limit = 3
	var held []*core.Semaphore
	slots := map[int]bool{}
	for i := range limit {
		s := l.NewSemaphore("pool", limit)
		require.NoError(f.T, s.TryAcquire(f.Ctx), "holder %d", i)
		slots[s.Slot()] = true
		held = append(held, s)
	}
	assert.Len(f.T, slots, limit, "every holder has a slot of its own")
	extra := l.NewSemaphore("pool", limit)
	require.ErrorIs(f.T, extra.TryAcquire(f.Ctx), core.ErrNotAcquired, "one more than the limit")
	require.NoError(f.T, held[1].Release(f.Ctx))
	require.NoError(f.T, extra.TryAcquire(f.Ctx), "the released slot")
	for _, s := range append(held, extra) {
		if s != held[1] {
			require.NoError(f.T, s.Release(f.Ctx))
		}
	}
	require.NoError(f.T, l.Wait(f.Ctx))
	for i := range limit {
		assert.Empty(f.T, f.slotHolders("pool", i), "slot %d left behind", i)
	}
	assert.Empty(f.T, f.Holders("pool"), "a semaphore wrote the key of the Mutex of its name")
}

// testSemaphoreNeverOverLimit: three nodes, two slots, many contenders,
// while one server at a time is paused for a while. A semaphore counting
// holders per node lets three hold here ({A, B}, {A, C}, {B, C}); the
// history of holdings must never have more than two holders within their
// validity, nor two on one slot.
func testSemaphoreNeverOverLimit(f *Fixture) {
	const (
		contenders = 8
		limit      = 2
		run        = 3 * time.Second
	)
	l := f.Locker(core.WithTTL(time.Second), core.WithNodeTimeout(50*time.Millisecond),
		core.WithRetry(retry.Random(time.Millisecond, 10*time.Millisecond)))
	var h History
	end := time.Now().Add(run)
	faults := make(chan struct{})
	go func() { // a minority fault: one server paused at a time
		defer close(faults)
		for time.Now().Before(end) {
			s := f.Servers[rand.IntN(len(f.Servers))]
			s.Pause()
			_ = Job(f.Ctx, time.Duration(50+rand.IntN(200))*time.Millisecond)
			s.Resume()
			_ = Job(f.Ctx, time.Duration(rand.IntN(100))*time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	for c := range contenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := l.NewSemaphore("crowded", limit)
			for time.Now().Before(end) {
				ctx, cancel := context.WithDeadline(f.Ctx, end)
				err := s.Acquire(ctx)
				cancel()
				if err != nil {
					continue
				}
				from, until, slot := time.Now(), s.Until(), s.Slot()
				_ = Job(f.Ctx, time.Duration(rand.IntN(20))*time.Millisecond)
				to := time.Now()
				if until.Before(to) {
					to = until
				}
				h.Add(fmt.Sprint("contender ", c), slot, from, to)
				_ = s.Release(f.Ctx)
			}
		}()
	}
	wg.Wait()
	<-faults
	h.Check(f.T, limit)
	assert.Greater(f.T, h.Len(), 20, "too few holdings to tell")
	if n, _ := h.MostAtOnce(); n < limit {
		f.T.Errorf("never %d holders at once: the semaphore held back", limit)
	}
}

func testSemaphoreExpiry(f *Fixture) {
	const ttl = 300 * time.Millisecond
	l := f.Locker(core.WithTTL(ttl), core.WithRetry(retry.Random(10*time.Millisecond, 30*time.Millisecond)))
	a, b := l.NewSemaphore("expiring", 2), l.NewSemaphore("expiring", 2)
	require.NoError(f.T, a.TryAcquire(f.Ctx))
	require.NoError(f.T, b.TryAcquire(f.Ctx))
	first := a.Until()
	if b.Until().Before(first) {
		first = b.Until()
	}
	c := l.NewSemaphore("expiring", 2)
	require.ErrorIs(f.T, c.TryAcquire(f.Ctx), core.ErrNotAcquired)
	require.NoError(f.T, c.Acquire(f.Ctx), "a slot is freed when its holder's keys expire")
	assert.False(f.T, time.Now().Before(first), "acquired within a holder's validity")
	require.NoError(f.T, c.Release(f.Ctx))
}

func testSemaphoreWakes(f *Fixture) {
	subscriber(f)
	l := f.Locker()
	holders := []*core.Semaphore{l.NewSemaphore("woken", 2), l.NewSemaphore("woken", 2)}
	for _, s := range holders {
		require.NoError(f.T, s.TryAcquire(f.Ctx))
	}
	acquired := make(chan time.Time, 1)
	waiter := l.NewSemaphore("woken", 2, core.WithRetry(retry.Constant(20*time.Second, 0)))
	go func() {
		if assert.NoError(f.T, waiter.Acquire(f.Ctx)) {
			acquired <- time.Now()
		}
	}()
	f.WaitSubscribed()
	released := time.Now()
	require.NoError(f.T, holders[1].Release(f.Ctx))
	select {
	case at := <-acquired:
		assert.Less(f.T, at.Sub(released), 2*time.Second, "the waiter woke on the release of a slot")
	case <-f.Ctx.Done():
		f.T.Fatal("the waiter never acquired")
	}
	assert.Equal(f.T, holders[1].Slot(), -1)
	require.NoError(f.T, waiter.Release(f.Ctx))
	require.NoError(f.T, holders[0].Release(f.Ctx))
}

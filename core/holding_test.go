package core_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/retry"
)

// After a loss, the Mutex holds nothing: Until and Fence are zero. Locking
// again starts a new holding with its own keep-alive and Done channel, as
// a "Lock; wait on Done" leader loop needs.
func TestLockAgainAfterLoss(t *testing.T) {
	f := newFixture(t, 3)
	var extended atomic.Int32
	l := f.Locker(core.WithTTL(time.Second), core.WithFencing(), core.WithEvents(func(e core.Event) {
		if e.Kind == core.Extended {
			extended.Add(1)
		}
	}))
	m := l.NewMutex("leader", core.WithKeepAlive(true))
	require.NoError(t, m.Lock(f.Ctx))
	done := m.Done()
	f.OnAll("DEL", core.Key("leader"))
	select {
	case <-done:
	case <-f.Ctx.Done():
		t.Fatal("the loss was not noticed")
	}
	require.ErrorIs(t, m.Err(), core.ErrLockLost)
	assert.True(t, m.Until().IsZero(), "Until after a loss")
	assert.Zero(t, m.Fence(), "Fence after a loss")

	require.NoError(t, m.Lock(f.Ctx))
	assert.False(t, closed(m.Done()), "Done of the new holding is closed")
	assert.NoError(t, m.Err(), "Err of the new holding")
	assert.NotZero(t, m.Fence())
	before := extended.Load()
	require.Eventually(t, func() bool { return extended.Load() > before+2 }, 5*time.Second, 5*time.Millisecond,
		"the new holding is not kept alive")
	assert.False(t, closed(m.Done()))
	require.NoError(t, m.Unlock(f.Ctx))
	assert.True(t, closed(m.Done()), "Done after Unlock")
	assert.ErrorIs(t, m.Err(), core.ErrNotHeld)
}

// A Mutex's own TTL sets the pace of its keep-alive, whatever the
// Locker's: with a Mutex TTL of 1s, about three extensions a second.
func TestKeepAliveFollowsMutexTTL(t *testing.T) {
	f := newFixture(t, 1)
	l := f.Locker(core.WithTTL(10 * time.Second))
	m := l.NewMutex("paced", core.WithTTL(time.Second), core.WithKeepAlive(true))
	require.NoError(t, m.TryLock(f.Ctx))
	start := f.faulty[0].Calls("extend")
	// Over 2s a 1s TTL needs 6 extensions; back to back would be thousands.
	assert.Never(t, func() bool { return f.faulty[0].Calls("extend")-start > 20 }, 2*time.Second, 10*time.Millisecond,
		"the keeper extends back to back")
	assert.Greater(t, f.faulty[0].Calls("extend")-start, 3, "the keeper extends about every TTL/3")
	require.NoError(t, m.Unlock(f.Ctx))
}

// A holder that refreshes its lock through Lock does so at once: it does
// not queue behind the waiters it keeps out, nor sleep out its policy's
// first delay (here longer than its TTL).
func TestHolderRefreshesThroughLockAtOnce(t *testing.T) {
	f := newFixture(t, 3)
	var v conformance.Validities
	l := f.Locker(core.WithTTL(time.Second), core.WithEvents(v.Record))
	holder := l.NewMutex("held", core.WithRetry(retry.Constant(1500*time.Millisecond, 0)))
	require.NoError(t, holder.TryLock(f.Ctx))

	waiterCtx, cancel := context.WithCancel(f.Ctx)
	defer cancel()
	f.Listening(l)
	asleep := make(chan struct{}, 1)
	waiter := l.NewMutex("held", conformance.SignalPolicy(asleep, 2, 50*time.Millisecond))
	got := make(chan error, 1)
	go func() { got <- waiter.Lock(waiterCtx) }()
	<-asleep // queued, its subscriptions up

	until := holder.Until()
	require.NoError(t, holder.Lock(f.Ctx), "the holder's refresh through Lock")
	v.AssertRenewed(t, holder.Until(), until, "the holder's refresh")
	select {
	case err := <-got:
		t.Fatalf("the waiter returned while the holder held the lock: %v", err)
	default:
	}
	require.NoError(t, holder.Unlock(f.Ctx))
	require.NoError(t, <-got, "the waiter acquires once the holder unlocks")
	require.NoError(t, waiter.Unlock(f.Ctx))
}

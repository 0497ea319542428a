package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/retry"
)

// A broken lock's holder is told through Done and Err; a waiter is woken
// by the break and acquires with a higher token; the counter survives.
func TestBreakTellsHolder(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithTTL(time.Second), core.WithFencing())
	holder := l.NewMutex("stuck", core.WithKeepAlive(true), conformance.FixedOwner("hung-job"))
	require.NoError(t, holder.Lock(f.Ctx))
	done, token := holder.Done(), holder.Fence()
	f.settle(l)

	n, err := l.Break(f.Ctx, "stuck", core.Fingerprint("someone-else"))
	require.NoError(t, err)
	assert.Zero(t, n, "another owner's fingerprint breaks nothing")
	assert.NoError(t, holder.Err())

	acquired := make(chan error, 1)
	waiter := l.NewMutex("stuck", core.WithRetry(retry.Constant(20*time.Second, 0)))
	go func() { acquired <- waiter.Lock(f.Ctx) }()
	f.WaitSubscribed()
	n, err = l.Break(f.Ctx, "stuck", core.Fingerprint("hung-job"))
	require.NoError(t, err)
	assert.Equal(t, 3, n, "deleted on every node")
	select {
	case <-done:
	case <-f.Ctx.Done():
		t.Fatal("the holder was not told")
	}
	assert.ErrorIs(t, holder.Err(), core.ErrLockLost)
	select {
	case err := <-acquired:
		require.NoError(t, err, "the waiter, woken by the break")
	case <-time.After(5 * time.Second):
		t.Fatal("the break did not wake the waiter")
	}
	assert.Greater(t, waiter.Fence(), token, "the next holder's token is higher")
	require.NoError(t, waiter.Unlock(f.Ctx))
	f.settle(l) // Unlock returns once a quorum and the gate have released; the rest are on their way

	n, err = l.Break(f.Ctx, "stuck", "")
	require.NoError(t, err)
	assert.Zero(t, n, "nothing left to break")
}

// Breaking a semaphore's slots by owner, and an election's leader.
func TestBreakSemaphoreAndElection(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithTTL(time.Second), core.WithKeepAlive(true))
	a := l.NewSemaphore("pool", 2, conformance.FixedOwner("a"))
	b := l.NewSemaphore("pool", 2, conformance.FixedOwner("b"))
	require.NoError(t, a.TryAcquire(f.Ctx))
	require.NoError(t, b.TryAcquire(f.Ctx))
	f.settle(l)
	n, err := l.BreakSemaphore(f.Ctx, "pool", 2, core.Fingerprint("a"))
	require.NoError(t, err)
	// a's slot is on a quorum at least: its third node may have been taken
	// by b's first try of that slot, before a's acquire landed there.
	assert.GreaterOrEqual(t, n, 2)
	assert.LessOrEqual(t, n, 3)
	select {
	case <-a.Done():
	case <-f.Ctx.Done():
		t.Fatal("a was not told")
	}
	assert.NoError(t, b.Err(), "b's slot was not broken")
	_, err = l.BreakSemaphore(f.Ctx, "pool", 0, "")
	assert.Error(t, err)

	e := l.NewElection("lead")
	require.NoError(t, e.Campaign(f.Ctx, "x"))
	term := e.Fence()
	f.settle(l)
	n, err = l.BreakElection(f.Ctx, "lead", "")
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	select {
	case <-e.Done():
	case <-f.Ctx.Done():
		t.Fatal("the leader was not told")
	}
	_, err = e.Leader(f.Ctx)
	assert.ErrorIs(t, err, core.ErrNoLeader)
	next := l.NewElection("lead")
	require.NoError(t, next.Campaign(f.Ctx, "y"))
	assert.Greater(t, next.Fence(), term, "the next term is higher")
	require.NoError(t, next.Resign(f.Ctx))
}

// With too few nodes answering, Break cannot say the lock is broken.
func TestBreakNoQuorum(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithNodeTimeout(100 * time.Millisecond))
	require.NoError(t, l.NewMutex("far").TryLock(f.Ctx))
	f.settle(l)
	f.Servers[0].Kill()
	f.Servers[1].Kill()
	n, err := l.Break(f.Ctx, "far", "")
	assert.Equal(t, 1, n)
	require.ErrorIs(t, err, core.ErrNotReleased)
	var ne *core.NodeError
	assert.ErrorAs(t, err, &ne)
	ctx, cancel := context.WithCancel(f.Ctx)
	cancel()
	_, err = l.Break(ctx, "far", "")
	assert.ErrorIs(t, err, context.Canceled)
	_, err = l.Break(f.Ctx, "", "")
	assert.Error(t, err)
}

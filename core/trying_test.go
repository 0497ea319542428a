package core_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/internal/testnode"
)

// askedCtx is a context that closes asked the first time something asks
// for its Done channel: a TryLock does so first when it waits for another
// Mutex's round, and when it makes a round of its own.
type askedCtx struct {
	context.Context
	once  sync.Once
	asked chan struct{}
}

func newAskedCtx(ctx context.Context) *askedCtx {
	return &askedCtx{Context: ctx, asked: make(chan struct{})}
}

func (c *askedCtx) Done() <-chan struct{} {
	c.once.Do(func() { close(c.asked) })
	return c.Context.Done()
}

// arrive arms script on the given nodes with act, once each, and returns
// a channel closed once every one of them has been called.
func (f *fixture) arrive(script string, act testnode.Action, nodes ...int) <-chan struct{} {
	all := make(chan struct{})
	var left sync.WaitGroup
	left.Add(len(nodes))
	for _, i := range nodes {
		f.faulty[i].On(script, 1, func(ctx context.Context, c testnode.Call, run func(context.Context) (any, error)) (any, error) {
			left.Done()
			return act(ctx, c, run)
		})
	}
	go func() { left.Wait(); close(all) }()
	return all
}

// A TryLock while another owner's TryLock on the same Locker has its round
// in flight waits for that round and makes none of its own: the other
// round wins, and the TryLock fails as held by another owner, naming no
// node.
func TestTryLockWaitsForRoundInFlight(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker()
	released := make(chan struct{})
	called := f.arrive("acquire", testnode.RunThenHold(released), 0, 1, 2)
	first := make(chan error, 1)
	go func() { first <- l.NewMutex("in-flight").TryLock(f.Ctx) }()
	f.await(called, "the first round never reached the nodes")

	ctx := newAskedCtx(f.Ctx)
	second := make(chan error, 1)
	go func() { second <- l.NewMutex("in-flight").TryLock(ctx) }()
	f.await(ctx.asked, "the second TryLock neither waited nor made a round")
	close(released)

	require.NoError(t, <-first)
	err := <-second
	require.ErrorIs(t, err, core.ErrNotAcquired)
	require.ErrorIs(t, err, core.ErrHeldByOther)
	assert.Empty(t, nodeErrorAddrs(err), "no node was asked")
	assert.Equal(t, 3, f.acquires(), "one round, the first TryLock's")
}

// When the round it waited for fails on node errors, not because the lock
// is held, the waiting TryLock makes its own round and gets the lock.
func TestTryLockAfterFailedRoundInFlight(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker()
	released := make(chan struct{})
	lost := func(ctx context.Context, _ testnode.Call, _ func(context.Context) (any, error)) (any, error) {
		<-released
		return nil, testnode.ErrDropped // lost on the way: nothing ran
	}
	called := f.arrive("acquire", lost, 0, 1, 2)
	first := make(chan error, 1)
	go func() { first <- l.NewMutex("failed-in-flight").TryLock(f.Ctx) }()
	f.await(called, "the first round never reached the nodes")

	ctx := newAskedCtx(f.Ctx)
	m := l.NewMutex("failed-in-flight")
	second := make(chan error, 1)
	go func() { second <- m.TryLock(ctx) }()
	f.await(ctx.asked, "the second TryLock neither waited nor made a round")
	close(released)

	err := <-first
	require.ErrorIs(t, err, core.ErrNotAcquired)
	assert.NotErrorIs(t, err, core.ErrHeldByOther)
	require.NoError(t, <-second, "turned away after a round that found nothing")
	f.settle(l)
	assert.Equal(t, 6, f.acquires(), "two rounds: the failed one and its own")
	assert.Equal(t, []int{0, 1, 2}, f.Holders("failed-in-flight"), "its own round, on every node")
	require.NoError(t, m.Unlock(f.Ctx))
}

// A TryLock while another owner's Mutex of the same Locker releases the
// lock waits for that Unlock, then makes its round, and gets the lock: the
// release requests reach the servers late, so a round made alongside the
// release would meet the holder's keys.
func TestTryLockWaitsForRelease(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker()
	holder := l.NewMutex("releasing")
	require.NoError(t, holder.TryLock(f.Ctx))
	f.settle(l)
	released := make(chan struct{})
	called := f.arrive("release", testnode.HoldThenRun(released), 0, 1, 2)
	unlocked := make(chan error, 1)
	go func() { unlocked <- holder.Unlock(f.Ctx) }()
	f.await(called, "the release never reached the nodes")

	ctx := newAskedCtx(f.Ctx)
	m := l.NewMutex("releasing")
	second := make(chan error, 1)
	go func() { second <- m.TryLock(ctx) }()
	f.await(ctx.asked, "the TryLock neither waited nor made a round")
	close(released)

	require.NoError(t, <-unlocked)
	require.NoError(t, <-second)
	require.NoError(t, m.Unlock(f.Ctx))
}

// A TryLock whose ctx ends while it waits for another owner's round fails
// with ctx's error and leaves that round alone.
func TestTryLockWaitEndsWithCtx(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker()
	released := make(chan struct{})
	called := f.arrive("acquire", testnode.RunThenHold(released), 0, 1, 2)
	holder := l.NewMutex("wait-ends")
	first := make(chan error, 1)
	go func() { first <- holder.TryLock(f.Ctx) }()
	f.await(called, "the first round never reached the nodes")

	base, cancel := context.WithCancel(f.Ctx)
	ctx := newAskedCtx(base)
	second := make(chan error, 1)
	go func() { second <- l.NewMutex("wait-ends").TryLock(ctx) }()
	f.await(ctx.asked, "the second TryLock neither waited nor made a round")
	cancel()
	err := <-second
	require.ErrorIs(t, err, core.ErrNotAcquired)
	require.True(t, errors.Is(err, context.Canceled), "ctx's error: %v", err)
	close(released)

	require.NoError(t, <-first)
	assert.Equal(t, 3, f.acquires(), "one round, the first TryLock's")
	require.NoError(t, holder.Unlock(f.Ctx))
}

package core_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

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

// An Unlock that returned nil leaves the lock acquirable at once, even
// when keys of the Locker's own ended holdings are still on the nodes: a
// holding's acquire that reaches a node only after the next holding has
// come and gone there (it is released once it lands), and that next
// holding's release still on its way to another node. Together they refuse
// a round on two nodes of three; TryLock waits for those calls of its
// Locker and tries once more.
func TestTryLockAfterOwnStaleKeys(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithNodeTimeout(2 * time.Second))

	// P's acquire reaches node 1 late, and its reply later still.
	reach, ranLate, reply := make(chan struct{}), make(chan struct{}), make(chan struct{})
	f.faulty[1].On("acquire", 1, func(ctx context.Context, _ testnode.Call, run func(context.Context) (any, error)) (any, error) {
		<-reach
		v, err := run(context.WithoutCancel(ctx))
		close(ranLate)
		<-reply
		return v, err
	})
	p := l.NewMutex("stale")
	require.NoError(t, p.TryLock(f.Ctx), "nodes 0 and 2 grant")
	require.NoError(t, p.Unlock(f.Ctx), "nodes 0 and 2 release; node 1 is released once its acquire lands")

	// Q holds the lock on the nodes where it is free, and its release
	// reaches node 2 late.
	q := l.NewMutex("stale")
	require.NoError(t, q.TryLock(f.Ctx))
	for _, i := range []int{0, 1, 2} {
		require.Eventually(t, func() bool { return slices.Contains(f.Holders("stale"), i) }, 5*time.Second, time.Millisecond,
			"Q's acquire never landed on node %d", i)
	}
	released := make(chan struct{})
	f.faulty[2].On("release", 1, testnode.HoldThenRun(released))
	require.NoError(t, q.Unlock(f.Ctx), "nodes 0 and 1 release")

	// P's acquire lands on node 1 now: with Q's key on node 2, two nodes
	// hold keys of ended holdings.
	close(reach)
	f.await(ranLate, "P's late acquire never ran")
	require.Equal(t, []int{1, 2}, f.Holders("stale"))

	// R's first round meets them; it waits for the Locker's calls, which
	// land once the test lets them, and its second round gets the lock.
	var ran sync.WaitGroup
	ran.Add(3)
	for _, fn := range f.faulty {
		fn.On("acquire", 1, func(ctx context.Context, _ testnode.Call, run func(context.Context) (any, error)) (any, error) {
			v, err := run(ctx)
			ran.Done()
			return v, err
		})
	}
	r := l.NewMutex("stale")
	tried := make(chan error, 1)
	go func() { tried <- r.TryLock(f.Ctx) }()
	ran.Wait()
	close(reply)
	close(released)
	require.NoError(t, <-tried, "an idle lock refused after every Unlock returned nil")
	require.NoError(t, r.Unlock(f.Ctx))
	f.settle(l)
	assert.Empty(t, f.Holders("stale"))
}

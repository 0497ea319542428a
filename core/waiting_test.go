package core_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
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

// Many contenders for one lock all acquire it in the end, one at a time:
// no increment of a shared counter is lost.
func TestManyContendersAllAcquire(t *testing.T) {
	f := newFixture(t, 3)
	const contenders = 32
	l := f.Locker(core.WithTTL(5 * time.Second))
	var holders, overlaps, done atomic.Int32
	var wg sync.WaitGroup
	for c := range contenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counter := conformance.Dial(f.Servers[0].Addr)
			defer counter.Close()
			m := l.NewMutex("crowd")
			if !assert.NoError(t, m.Lock(f.Ctx), "contender %d", c) {
				return
			}
			if holders.Add(1) != 1 {
				overlaps.Add(1)
			}
			v, err := counter.Do(f.Ctx, "GET", "crowd-counter")
			if assert.NoError(t, err) {
				n, _ := strconv.Atoi(fmt.Sprint(v))
				_, err = counter.Do(f.Ctx, "SET", "crowd-counter", strconv.Itoa(n+1))
				assert.NoError(t, err)
			}
			holders.Add(-1)
			assert.NoError(t, m.Unlock(f.Ctx))
			done.Add(1)
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(contenders), done.Load(), "every contender acquired")
	assert.Zero(t, overlaps.Load())
	v, err := f.Servers[0].Do("GET", "crowd-counter")
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(contenders), v)
	f.WaitFree("crowd")
}

// The Locks of one process waiting on one lock acquire it in the order
// they began to wait, each woken by the release of the one before; none
// polls.
func TestWaitersTakeTurns(t *testing.T) {
	f := newFixture(t, 3)
	const waiters = 5
	l := f.Locker()
	holder := l.NewMutex("turns")
	require.NoError(t, holder.TryLock(f.Ctx))
	order := make(chan int, waiters)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range waiters {
		queued := make(chan struct{}, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := l.NewMutex("turns", conformance.QueuedPolicy(queued))
			if assert.NoError(t, m.Lock(f.Ctx), "waiter %d", i) {
				order <- i
				assert.NoError(t, m.Unlock(f.Ctx))
			}
		}()
		select {
		case <-queued:
		case <-f.Ctx.Done():
			t.Fatalf("waiter %d never queued", i)
		}
		if i == 0 {
			f.WaitSubscribed()
		}
	}
	start := time.Now()
	require.NoError(t, holder.Unlock(f.Ctx))
	var got []int
	for range waiters {
		select {
		case i := <-order:
			got = append(got, i)
		case <-f.Ctx.Done():
			t.Fatalf("only %v acquired", got)
		}
	}
	assert.Equal(t, []int{0, 1, 2, 3, 4}, got, "waiters acquire first come first served")
	assert.Less(t, time.Since(start), 10*time.Second, "the turns passed on release, not by polling")
	f.WaitFree("turns")
}

// A waiter that gives up leaves the queue, and the release goes to the
// next one.
func TestLeavingWaiterPassesTurn(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker()
	holder := l.NewMutex("leaving")
	require.NoError(t, holder.TryLock(f.Ctx))
	ctx, cancel := context.WithCancel(f.Ctx)
	queued := make(chan struct{}, 1)
	first := make(chan error, 1)
	go func() { first <- l.NewMutex("leaving", conformance.QueuedPolicy(queued)).Lock(ctx) }()
	<-queued
	f.WaitSubscribed()
	second := make(chan error, 1)
	go func() {
		m := l.NewMutex("leaving", conformance.QueuedPolicy(queued))
		err := m.Lock(f.Ctx)
		if err == nil {
			err = m.Unlock(f.Ctx)
		}
		second <- err
	}()
	<-queued
	cancel()
	err := <-first
	assert.ErrorIs(t, err, core.ErrNotAcquired)
	assert.ErrorIs(t, err, context.Canceled)
	require.NoError(t, holder.Unlock(f.Ctx))
	select {
	case err := <-second:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the release did not reach the waiter behind the one that left")
	}
}

// An acquire still in flight at Unlock is released when it lands;
// Locker.Wait returns once that has happened, and not before.
func TestWaitSettlesLateReleases(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithNodeTimeout(5 * time.Second))
	m := l.NewMutex("settle")
	require.NoError(t, m.TryLock(f.Ctx)) // warm every connection
	require.NoError(t, m.Unlock(f.Ctx))
	f.settle(l)
	f.Servers[2].Pause()
	resumed := false
	defer func() {
		if !resumed {
			f.Servers[2].Resume()
		}
	}()
	require.NoError(t, m.TryLock(f.Ctx), "two of three nodes grant")
	require.NoError(t, m.Unlock(f.Ctx))
	short, cancel := context.WithTimeout(f.Ctx, 100*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, l.Wait(short), context.DeadlineExceeded, "the paused node's acquire is still in flight")
	f.Servers[2].Resume()
	resumed = true
	f.settle(l)
	assert.Empty(t, f.Holders("settle"), "the acquire that landed late was released")
}

// A hand-over that reaches a quorum while one node is paused gives the
// waiter the lock at once; the paused node's part lands after the
// waiter's Unlock and is released then, leaving nothing behind.
func TestHandOverWithPausedNode(t *testing.T) {
	f := newFixture(t, 3)
	const nodeTimeout = 5 * time.Second
	l := f.Locker(core.WithNodeTimeout(nodeTimeout))
	f.Listening(l)
	holder := l.NewMutex("handover-paused")
	require.NoError(t, holder.TryLock(f.Ctx))
	require.Eventually(t, func() bool { return len(f.Holders("handover-paused")) == len(f.Servers) }, 5*time.Second, 2*time.Millisecond)
	queued := make(chan struct{}, 1)
	waiter := l.NewMutex("handover-paused", conformance.AsleepPolicy(queued))
	acquired := make(chan error, 1)
	go func() { acquired <- waiter.Lock(f.Ctx) }()
	<-queued
	f.OnAll("CONFIG", "RESETSTAT")

	f.Servers[2].Pause()
	resumed := false
	defer func() {
		if !resumed {
			f.Servers[2].Resume()
		}
	}()
	start := time.Now()
	require.NoError(t, holder.Unlock(f.Ctx))
	select {
	case err := <-acquired:
		require.NoError(t, err)
	case <-f.Ctx.Done():
		t.Fatal("the waiter was not handed the lock")
	}
	assert.Less(t, time.Since(start), nodeTimeout/2, "the paused node held up the hand-over")
	for i := range 2 {
		assert.Zero(t, f.Publishes(i), "server %d announced a release: the lock was released, not handed over", i)
	}
	require.NoError(t, waiter.Unlock(f.Ctx))
	f.Servers[2].Resume()
	resumed = true
	f.settle(l)
	assert.Empty(t, f.Holders("handover-paused"), "the hand-over that landed late was released")
}

// Locks of one process handing the lock to each other do not keep it from
// the rest of the world forever.
func TestHandOversLetOthersIn(t *testing.T) {
	f := newFixture(t, 3)
	const name = "handover-bounded"
	l := f.Locker()
	ctx, stop := context.WithCancel(f.Ctx)
	var wg sync.WaitGroup
	var cycles atomic.Int64
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := l.NewMutex(name, core.WithRetry(retry.Constant(20*time.Second, 0)))
			for ctx.Err() == nil {
				if m.Lock(ctx) == nil {
					cycles.Add(1)
					assert.NoError(t, m.Unlock(f.Ctx))
				}
			}
		}()
	}
	defer func() {
		stop()
		wg.Wait()
	}()
	if !assert.Eventually(t, func() bool { return cycles.Load() > 100 }, 10*time.Second, time.Millisecond) {
		t.Fatalf("the local Locks stalled after %d cycles", cycles.Load())
	}

	quiet := make([]core.Node, len(f.Nodes))
	for i, n := range f.Nodes {
		quiet[i] = quietNode{n}
	}
	other, err := core.New(quiet)
	require.NoError(t, err)
	outsider := other.NewMutex(name, core.WithRetry(retry.Constant(2*time.Millisecond, 0)))
	octx, cancel := context.WithTimeout(f.Ctx, 15*time.Second)
	defer cancel()
	require.NoError(t, outsider.Lock(octx), "a waiter outside the process never got the lock")
	require.NoError(t, outsider.Unlock(f.Ctx))
}

// quietNode hides every optional interface of a Node: a Locker over such
// nodes is not told of releases and polls, as a waiter in another process
// without notifications would.
type quietNode struct{ core.Node }

// Locks that start at once split the votes, undo their writes and queue;
// the releases of those undos may come before they are in the queue. None
// of them may then sleep out its delay.
func TestWaitersStartingTogetherDoNotStall(t *testing.T) {
	f := newFixture(t, 3)
	const contenders = 8
	l := f.Locker()
	start := make(chan struct{})
	done := make(chan error, contenders)
	for range contenders {
		go func() {
			m := l.NewMutex("together", core.WithRetry(retry.Constant(20*time.Second, 0)))
			<-start
			err := m.Lock(f.Ctx)
			if err == nil {
				err = m.Unlock(f.Ctx)
			}
			done <- err
		}()
	}
	close(start)
	timeout := time.After(10 * time.Second)
	for i := range contenders {
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-timeout:
			t.Fatalf("%d of %d contenders acquired; the others wait for their 20 s delay", i, contenders)
		}
	}
}

// Contenders in processes that list the nodes in different orders meet at
// the same gate node.
func TestGateDoesNotDependOnNodeOrder(t *testing.T) {
	f := newFixture(t, 3)
	reversed := slices.Clone(f.Nodes)
	slices.Reverse(reversed)
	other, err := core.New(reversed)
	require.NoError(t, err)
	holder := f.Locker().NewMutex("gate-order")
	require.NoError(t, holder.TryLock(f.Ctx))
	require.Eventually(t, func() bool { return len(f.Holders("gate-order")) == len(f.Servers) }, 5*time.Second, 2*time.Millisecond)
	gate := func(l *core.Locker) int {
		m := l.NewMutex("gate-order")
		require.ErrorIs(t, m.TryLock(f.Ctx), core.ErrNotAcquired) // meets the holder: the next rounds are gated
		f.settle(l)                                               // the round's last node has answered
		f.OnAll("CONFIG", "RESETSTAT")
		require.ErrorIs(t, m.TryLock(f.Ctx), core.ErrNotAcquired)
		asked := -1
		for i := range f.Servers {
			if f.ScriptCalls(i) > 0 {
				assert.Equal(t, -1, asked, "a gated round that the gate refused asked two nodes")
				asked = i
			}
		}
		return asked
	}
	a, b := gate(f.Locker()), gate(other)
	assert.NotEqual(t, -1, a)
	assert.Equal(t, a, b, "the two orders chose different gates")
}

// A lock held on a bare quorum leaves one node free, where a waiter's
// round can write before it fails. Cleaning that up must not wake the
// waiter again: it would loop, writing and cleaning up, for as long as
// the lock is held.
func TestNoWakeStormWhileHeld(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker()
	for free := range f.Servers {
		name := fmt.Sprintf("storm-%d", free)
		for i, s := range f.Servers {
			if i != free {
				_, err := s.Do("SET", core.Key(name), "holder|0000000000000001", "PX", "60000")
				require.NoError(t, err)
			}
		}
		f.OnAll("CONFIG", "RESETSTAT")
		ctx, cancel := context.WithTimeout(f.Ctx, 500*time.Millisecond)
		err := l.NewMutex(name, core.WithRetry(retry.Constant(20*time.Second, 0))).Lock(ctx)
		cancel()
		require.ErrorIs(t, err, core.ErrNotAcquired)
		f.settle(l)
		calls := 0
		for i := range f.Servers {
			calls += f.ScriptCalls(i)
		}
		assert.Less(t, calls, 30, "the waiter made %d script calls in half a second with server %d free", calls, free)
	}
}

// What a Locker learns about contention belongs to the lock name, not to a
// handle: a Mutex made for one attempt, after another handle met the
// holder, asks the gate alone and stops there.
func TestFreshHandleIsGated(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker()
	holder := f.Locker().NewMutex("fresh-gated") // another process's: l's rounds meet it on the nodes
	require.NoError(t, holder.TryLock(f.Ctx))
	require.Eventually(t, func() bool { return len(f.Holders("fresh-gated")) == len(f.Servers) }, 5*time.Second, 2*time.Millisecond)
	require.ErrorIs(t, l.NewMutex("fresh-gated").TryLock(f.Ctx), core.ErrNotAcquired) // meets the holder
	f.settle(l)
	f.OnAll("CONFIG", "RESETSTAT")
	require.ErrorIs(t, l.NewMutex("fresh-gated").TryLock(f.Ctx), core.ErrNotAcquired)
	asked := 0
	for i := range f.Servers {
		if f.ScriptCalls(i) > 0 {
			asked++
		}
	}
	assert.Equal(t, 1, asked, "a new handle for a contended name made a full round")
	require.NoError(t, holder.Unlock(f.Ctx))
}

// A Locker keeps state for the names its Mutexes use, and forgets the
// names no Mutex used for a while once it holds many: locking many
// distinct names must not grow it without bound.
func TestLockerForgetsIdleNames(t *testing.T) {
	f := newFixture(t, 1)
	l := f.Locker()
	for i := range 3000 {
		l.NewMutex(fmt.Sprintf("name-%d", i))
	}
	assert.Equal(t, 3000, core.Targets(l), "names in use within the last minute are kept")

	defer core.SetForgetAfter(0)()
	for i := range 3000 {
		l.NewMutex(fmt.Sprintf("other-%d", i))
	}
	assert.LessOrEqual(t, core.Targets(l), 1024*2, "idle names are forgotten")
	m := l.NewMutex("name-1")
	require.NoError(t, m.TryLock(f.Ctx), "a forgotten name locks as before")
	require.NoError(t, m.Unlock(f.Ctx))
}

// A gate that does not answer costs a gated round one node timeout, not
// its whole round: the other nodes get a node timeout of their own and
// grant the free lock. (They used to be called with the timeout the gate
// had spent, and the round failed blaming all three.)
func TestHungGateDoesNotFailTheRound(t *testing.T) {
	f := newFixture(t, 3)
	hl := f.Locker()
	holder := hl.NewMutex("hung-gate")
	require.NoError(t, holder.TryLock(f.Ctx))
	require.Eventually(t, func() bool { return len(f.Holders("hung-gate")) == 3 }, 5*time.Second, 2*time.Millisecond)
	l := f.Locker(core.WithNodeTimeout(200 * time.Millisecond))
	gate := f.gate(l, "hung-gate")
	require.NoError(t, holder.Unlock(f.Ctx))
	f.settle(hl) // its last release may still be on its way
	f.faulty[gate].On("acquire", 1, func(ctx context.Context, _ testnode.Call, _ func(context.Context) (any, error)) (any, error) {
		<-ctx.Done() // lost on the way: no answer, nothing written
		return nil, ctx.Err()
	})
	m := l.NewMutex("hung-gate")
	require.NoError(t, m.TryLock(f.Ctx), "two free nodes of three, past a hung gate")
	require.NoError(t, m.Unlock(f.Ctx))
	f.settle(l)
}

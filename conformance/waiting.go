package conformance

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/retry"
)

// The cases of waiting: wake on release, broken subscriptions, many
// contenders.
var waitingCases = []testCase{
	{"SubscriberDelivers", 1, testSubscriberDelivers, false},
	{"ReleaseWakesWaiter", 3, testReleaseWakes, false},
	{"BrokenSubscriptionFallsBackToPolling", 3, testBrokenSubscription, false},
	{"ManyContendersAllAcquire", 3, testManyContenders, false},
	{"WaitersTakeTurns", 3, testWaitersTakeTurns, false},
	{"LeavingWaiterPassesTurn", 3, testLeavingWaiter, false},
	{"WaitSettlesLateReleases", 3, testWaitSettles, false},
}

func subscriber(f *Fixture) core.Subscriber {
	s, ok := f.Nodes[0].(core.Subscriber)
	if !ok {
		f.T.Skip("the Node does not implement core.Subscriber; Lock polls")
	}
	return s
}

func testSubscriberDelivers(f *Fixture) {
	s := subscriber(f)
	ctx, cancel := context.WithCancel(f.Ctx)
	ready := make(chan struct{})
	got := make(chan string, 4)
	done := make(chan error, 1)
	go func() {
		done <- s.Listen(ctx, "redlock:*:released", func() { close(ready) }, func(ch string) { got <- ch })
	}()
	select {
	case <-ready:
	case <-f.Ctx.Done():
		f.T.Fatal("Listen never confirmed its subscription")
	}
	m := f.Locker().NewMutex("announced")
	require.NoError(f.T, m.TryLock(f.Ctx))
	require.NoError(f.T, m.Unlock(f.Ctx))
	select {
	case ch := <-got:
		assert.Equal(f.T, core.Channel("announced"), ch)
	case <-f.Ctx.Done():
		f.T.Fatal("the release was not delivered")
	}
	cancel()
	select {
	case err := <-done:
		assert.NoError(f.T, err, "Listen returns nil when its context ends")
	case <-time.After(5 * time.Second):
		f.T.Fatal("Listen did not return after its context ended")
	}
}

// waitSubscribed waits until every server has a pattern subscription.
func (f *Fixture) waitSubscribed() {
	f.T.Helper()
	require.Eventually(f.T, func() bool {
		for _, s := range f.Servers {
			if !s.Running() {
				continue
			}
			v, err := s.Do("PUBSUB", "NUMPAT")
			if err != nil || v.(int64) == 0 {
				return false
			}
		}
		return true
	}, 10*time.Second, 5*time.Millisecond, "the waiter never subscribed")
}

func testReleaseWakes(f *Fixture) {
	subscriber(f)
	const delay = 20 * time.Second // a waiter that polls would sleep this long
	l := f.Locker()
	holder := l.NewMutex("handoff")
	require.NoError(f.T, holder.TryLock(f.Ctx))
	acquired := make(chan time.Time, 1)
	go func() {
		w := l.NewMutex("handoff", core.WithRetry(retry.Constant(delay, 0)))
		if assert.NoError(f.T, w.Lock(f.Ctx)) {
			acquired <- time.Now()
			w.Unlock(f.Ctx)
		}
	}()
	f.waitSubscribed()
	released := time.Now()
	require.NoError(f.T, holder.Unlock(f.Ctx))
	select {
	case at := <-acquired:
		assert.Less(f.T, at.Sub(released), 2*time.Second, "the waiter woke on the release")
	case <-f.Ctx.Done():
		f.T.Fatal("the waiter never acquired")
	}
}

func testBrokenSubscription(f *Fixture) {
	subscriber(f)
	l := f.Locker(core.WithNodeTimeout(100 * time.Millisecond))
	holder := l.NewMutex("broken")
	require.NoError(f.T, holder.TryLock(f.Ctx))
	// The holder must keep a quorum through the restart below: let its
	// write land on every server first.
	require.Eventually(f.T, func() bool { return len(f.Holders("broken")) == len(f.Servers) }, 5*time.Second, 2*time.Millisecond)
	acquired := make(chan struct{})
	go func() {
		defer close(acquired)
		w := l.NewMutex("broken", core.WithRetry(retry.Random(20*time.Millisecond, 50*time.Millisecond)))
		if assert.NoError(f.T, w.Lock(f.Ctx)) {
			w.Unlock(f.Ctx)
		}
	}()
	f.waitSubscribed()
	// Break the subscriptions: kill the pub/sub connections everywhere and
	// restart one server outright.
	f.OnAll("CLIENT", "KILL", "TYPE", "pubsub")
	require.NoError(f.T, f.Servers[2].Restart())
	require.NoError(f.T, holder.Unlock(f.Ctx))
	select {
	case <-acquired:
	case <-f.Ctx.Done():
		f.T.Fatal("the waiter never acquired after its subscription broke")
	}
}

func testManyContenders(f *Fixture) {
	const contenders = 32
	l := f.Locker(core.WithTTL(5 * time.Second))
	var holders, overlaps, done atomic.Int32
	var wg sync.WaitGroup
	for c := range contenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counter := Dial(f.Servers[0].Addr)
			defer counter.Close()
			m := l.NewMutex("crowd")
			if !assert.NoError(f.T, m.Lock(f.Ctx), "contender %d", c) {
				return
			}
			if holders.Add(1) != 1 {
				overlaps.Add(1)
			}
			v, err := counter.Do(f.Ctx, "GET", "crowd-counter")
			if assert.NoError(f.T, err) {
				n, _ := strconv.Atoi(fmt.Sprint(v))
				_, err = counter.Do(f.Ctx, "SET", "crowd-counter", strconv.Itoa(n+1))
				assert.NoError(f.T, err)
			}
			holders.Add(-1)
			assert.NoError(f.T, m.Unlock(f.Ctx))
			done.Add(1)
		}()
	}
	wg.Wait()
	assert.Equal(f.T, int32(contenders), done.Load(), "every contender acquired")
	assert.Zero(f.T, overlaps.Load())
	v, err := f.Servers[0].Do("GET", "crowd-counter")
	require.NoError(f.T, err)
	assert.Equal(f.T, strconv.Itoa(contenders), v)
	f.WaitFree("crowd")
}

// queuedPolicy is a retry policy that never polls (a 20 s delay) and tells
// when the Lock using it has joined the queue of waiters: Lock asks for
// its first delay right after.
func queuedPolicy(queued chan<- struct{}) core.Option {
	return core.WithRetry(retry.Policy(func() backoff.BackOff {
		return &signalBackOff{queued: queued}
	}))
}

type signalBackOff struct {
	queued chan<- struct{}
	asked  bool
}

func (b *signalBackOff) NextBackOff() time.Duration {
	if !b.asked {
		b.asked = true
		b.queued <- struct{}{}
	}
	return 20 * time.Second
}

func (b *signalBackOff) Reset() {}

// testWaitersTakeTurns: the Locks of one process waiting on one lock
// acquire it in the order they began to wait, each woken by the release
// of the one before; none polls.
func testWaitersTakeTurns(f *Fixture) {
	subscriber(f)
	const waiters = 5
	l := f.Locker()
	holder := l.NewMutex("turns")
	require.NoError(f.T, holder.TryLock(f.Ctx))
	order := make(chan int, waiters)
	for i := range waiters {
		queued := make(chan struct{}, 1)
		go func() {
			m := l.NewMutex("turns", queuedPolicy(queued))
			if assert.NoError(f.T, m.Lock(f.Ctx), "waiter %d", i) {
				order <- i
				assert.NoError(f.T, m.Unlock(f.Ctx))
			}
		}()
		select {
		case <-queued:
		case <-f.Ctx.Done():
			f.T.Fatalf("waiter %d never queued", i)
		}
		if i == 0 {
			f.waitSubscribed()
		}
	}
	start := time.Now()
	require.NoError(f.T, holder.Unlock(f.Ctx))
	var got []int
	for range waiters {
		select {
		case i := <-order:
			got = append(got, i)
		case <-f.Ctx.Done():
			f.T.Fatalf("only %v acquired", got)
		}
	}
	assert.Equal(f.T, []int{0, 1, 2, 3, 4}, got, "waiters acquire first come first served")
	assert.Less(f.T, time.Since(start), 10*time.Second, "the turns passed on release, not by polling")
	f.WaitFree("turns")
}

// testLeavingWaiter: a waiter that gives up leaves the queue, and the
// release goes to the next one.
func testLeavingWaiter(f *Fixture) {
	subscriber(f)
	l := f.Locker()
	holder := l.NewMutex("leaving")
	require.NoError(f.T, holder.TryLock(f.Ctx))
	ctx, cancel := context.WithCancel(f.Ctx)
	queued := make(chan struct{}, 1)
	first := make(chan error, 1)
	go func() { first <- l.NewMutex("leaving", queuedPolicy(queued)).Lock(ctx) }()
	<-queued
	f.waitSubscribed()
	second := make(chan error, 1)
	go func() {
		m := l.NewMutex("leaving", queuedPolicy(queued))
		err := m.Lock(f.Ctx)
		if err == nil {
			err = m.Unlock(f.Ctx)
		}
		second <- err
	}()
	<-queued
	cancel()
	err := <-first
	assert.ErrorIs(f.T, err, core.ErrNotAcquired)
	assert.ErrorIs(f.T, err, context.Canceled)
	require.NoError(f.T, holder.Unlock(f.Ctx))
	select {
	case err := <-second:
		assert.NoError(f.T, err)
	case <-time.After(10 * time.Second):
		f.T.Fatal("the release did not reach the waiter behind the one that left")
	}
}

// testWaitSettlesLateReleases: an acquire still in flight at Unlock is
// released when it lands; Locker.Wait returns once that has happened, and
// not before.
func testWaitSettles(f *Fixture) {
	l := f.Locker(core.WithNodeTimeout(5 * time.Second))
	m := l.NewMutex("settle")
	require.NoError(f.T, m.TryLock(f.Ctx)) // warm every connection
	require.NoError(f.T, m.Unlock(f.Ctx))
	require.NoError(f.T, l.Wait(f.Ctx))
	f.Servers[2].Pause()
	resumed := false
	defer func() {
		if !resumed {
			f.Servers[2].Resume()
		}
	}()
	require.NoError(f.T, m.TryLock(f.Ctx), "two of three nodes grant")
	require.NoError(f.T, m.Unlock(f.Ctx))
	short, cancel := context.WithTimeout(f.Ctx, 100*time.Millisecond)
	defer cancel()
	assert.ErrorIs(f.T, l.Wait(short), context.DeadlineExceeded, "the paused node's acquire is still in flight")
	f.Servers[2].Resume()
	resumed = true
	require.NoError(f.T, l.Wait(f.Ctx))
	assert.Empty(f.T, f.Holders("settle"), "the acquire that landed late was released")
}

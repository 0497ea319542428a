package conformance

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/retry"
)

// The cases of waiting: the Subscriber method, wake on release, broken
// subscriptions, hand-over.
var waitingCases = []testCase{
	{"SubscriberDelivers", 1, testSubscriberDelivers, false},
	{"ReleaseWakesWaiter", 3, testReleaseWakes, false},
	{"BrokenSubscriptionFallsBackToPolling", 3, testBrokenSubscription, false},
	{"HandOverToWaiter", 3, testHandOver, false},
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
	f.WaitSubscribed()
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
	f.WaitSubscribed()
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

// value returns the value of the lock called name on server i, "" when it
// is missing.
func (f *Fixture) value(i int, name string) string {
	f.T.Helper()
	v, err := f.Servers[i].Do("GET", core.Key(name))
	require.NoError(f.T, err)
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// testHandOver: Unlock hands the lock to a Lock of the same Locker that
// waits for it, in one step: the key goes from the holder's owner to the
// waiter's on every node without being free in between, so no release is
// announced; the waiter holds the lock with a validity and releases it.
func testHandOver(f *Fixture) {
	subscriber(f)
	l := f.Locker()
	f.Listening(l)
	holder := l.NewMutex("handover", FixedOwner("holder"))
	require.NoError(f.T, holder.TryLock(f.Ctx))
	require.Eventually(f.T, func() bool { return len(f.Holders("handover")) == len(f.Servers) }, 5*time.Second, 2*time.Millisecond)
	queued := make(chan struct{}, 1)
	var handedOver atomic.Bool
	events := core.WithEvents(func(e core.Event) {
		if e.Kind == core.Acquired && e.HandOver {
			handedOver.Store(true)
		}
	})
	waiter := l.NewMutex("handover", FixedOwner("waiter"), AsleepPolicy(queued), events)
	acquired := make(chan error, 1)
	go func() { acquired <- waiter.Lock(f.Ctx) }()
	<-queued
	f.OnAll("CONFIG", "RESETSTAT")

	require.NoError(f.T, holder.Unlock(f.Ctx))
	select {
	case err := <-acquired:
		require.NoError(f.T, err)
	case <-f.Ctx.Done():
		f.T.Fatal("the waiter was not handed the lock")
	}
	assert.True(f.T, time.Now().Before(waiter.Until()), "the waiter holds the lock with a validity")
	assert.True(f.T, handedOver.Load(), "the waiter's Acquired event tells of the hand-over")
	require.NoError(f.T, l.Wait(f.Ctx))
	for i := range f.Servers {
		assert.True(f.T, strings.HasPrefix(f.value(i, "handover"), "waiter|"), "server %d does not hold the waiter's lock", i)
		assert.Zero(f.T, f.Publishes(i), "server %d announced a release during the hand-over (%d, %d, %d)", i, f.Publishes(0), f.Publishes(1), f.Publishes(2))
	}
	require.NoError(f.T, waiter.Unlock(f.Ctx))
	require.NoError(f.T, l.Wait(f.Ctx))
	assert.Empty(f.T, f.Holders("handover"))
}

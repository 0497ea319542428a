package conformance

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/granularity"
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
	{"HandOverToWaiter", 3, testHandOver, false},
	{"HandOverWithPausedNode", 3, testHandOverPaused, false},
	{"HandOversLetOthersIn", 3, testHandOversBounded, false},
	{"WaitersStartingTogetherDoNotStall", 3, testStartTogether, false},
	{"GateDoesNotDependOnNodeOrder", 3, testGateOrder, false},
	{"NoWakeStormWhileHeld", 3, testNoWakeStorm, false},
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
func queuedPolicy(queued chan<- struct{}) core.Option { return signalPolicy(queued, 1) }

// asleepPolicy is queuedPolicy for a Lock that starts while the
// subscriptions are up (see listening): it makes one more round on joining
// the queue, which takes the first delay, and tells when it goes to sleep,
// on the second.
func asleepPolicy(asleep chan<- struct{}) core.Option { return signalPolicy(asleep, 2) }

// signalPolicy never polls, and signals ch when asked for delay number at.
func signalPolicy(ch chan<- struct{}, at int) core.Option {
	return core.WithRetry(retry.Policy(func() backoff.BackOff {
		return &signalBackOff{ch: ch, at: at}
	}))
}

type signalBackOff struct {
	ch    chan<- struct{}
	at    int
	asked int
}

func (b *signalBackOff) NextBackOff() time.Duration {
	if b.asked++; b.asked == b.at {
		b.ch <- struct{}{}
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
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range waiters {
		queued := make(chan struct{}, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
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

// fixedOwner is an Owner with the given ID.
func fixedOwner(id string) core.Option {
	return core.WithOwner(granularity.OwnerFunc(func(context.Context, string) (string, error) { return id, nil }))
}

// calls returns how many times server i ran the given commands (lower
// case, as INFO commandstats names them) since its statistics were reset,
// scripts' calls included.
func (f *Fixture) calls(i int, commands ...string) int {
	f.T.Helper()
	v, err := f.Servers[i].Do("INFO", "commandstats")
	require.NoError(f.T, err)
	n := 0
	for _, cmd := range commands {
		if stat := infoField(fmt.Sprint(v), "cmdstat_"+cmd); stat != "" {
			c, err := strconv.Atoi(strings.TrimPrefix(strings.Split(stat, ",")[0], "calls="))
			require.NoError(f.T, err)
			n += c
		}
	}
	return n
}

// publishes returns how many releases server i announced since its
// statistics were reset.
func (f *Fixture) publishes(i int) int { return f.calls(i, "publish") }

// scriptCalls returns how many scripts server i ran since its statistics
// were reset.
func (f *Fixture) scriptCalls(i int) int { return f.calls(i, "evalsha", "eval") }

// listening has a Lock of l wait on another lock until the case ends, so
// that the subscriptions are up before the case's own Lock starts: that
// Lock then makes its rounds and goes to sleep, with no wake from a
// subscription coming up.
func (f *Fixture) listening(l *core.Locker) {
	f.T.Helper()
	holder := l.NewMutex("listening")
	require.NoError(f.T, holder.TryLock(f.Ctx))
	ctx, cancel := context.WithCancel(f.Ctx)
	queued := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.NewMutex("listening", queuedPolicy(queued)).Lock(ctx)
	}()
	<-queued
	f.waitSubscribed()
	f.T.Cleanup(func() {
		cancel()
		<-done
	})
}

// testHandOver: Unlock hands the lock to a Lock of the same Locker that
// waits for it, in one step: the key goes from the holder's owner to the
// waiter's on every node without being free in between, so no release is
// announced; the waiter holds the lock with a validity and releases it.
func testHandOver(f *Fixture) {
	subscriber(f)
	l := f.Locker()
	f.listening(l)
	holder := l.NewMutex("handover", fixedOwner("holder"))
	require.NoError(f.T, holder.TryLock(f.Ctx))
	require.Eventually(f.T, func() bool { return len(f.Holders("handover")) == len(f.Servers) }, 5*time.Second, 2*time.Millisecond)
	queued := make(chan struct{}, 1)
	var handedOver atomic.Bool
	events := core.WithEvents(func(e core.Event) {
		if e.Kind == core.Acquired && e.HandOver {
			handedOver.Store(true)
		}
	})
	waiter := l.NewMutex("handover", fixedOwner("waiter"), asleepPolicy(queued), events)
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
		assert.Zero(f.T, f.publishes(i), "server %d announced a release during the hand-over (%d, %d, %d)", i, f.publishes(0), f.publishes(1), f.publishes(2))
	}
	require.NoError(f.T, waiter.Unlock(f.Ctx))
	require.NoError(f.T, l.Wait(f.Ctx))
	assert.Empty(f.T, f.Holders("handover"))
}

// testHandOverPaused: a hand-over that reaches a quorum while one node is
// paused gives the waiter the lock at once; the paused node's part lands
// after the waiter's Unlock and is released then, leaving nothing behind.
func testHandOverPaused(f *Fixture) {
	subscriber(f)
	const nodeTimeout = 5 * time.Second
	l := f.Locker(core.WithNodeTimeout(nodeTimeout))
	f.listening(l)
	holder := l.NewMutex("handover-paused")
	require.NoError(f.T, holder.TryLock(f.Ctx))
	require.Eventually(f.T, func() bool { return len(f.Holders("handover-paused")) == len(f.Servers) }, 5*time.Second, 2*time.Millisecond)
	queued := make(chan struct{}, 1)
	waiter := l.NewMutex("handover-paused", asleepPolicy(queued))
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
	require.NoError(f.T, holder.Unlock(f.Ctx))
	select {
	case err := <-acquired:
		require.NoError(f.T, err)
	case <-f.Ctx.Done():
		f.T.Fatal("the waiter was not handed the lock")
	}
	assert.Less(f.T, time.Since(start), nodeTimeout/2, "the paused node held up the hand-over")
	for i := range 2 {
		assert.Zero(f.T, f.publishes(i), "server %d announced a release: the lock was released, not handed over", i)
	}
	require.NoError(f.T, waiter.Unlock(f.Ctx))
	f.Servers[2].Resume()
	resumed = true
	require.NoError(f.T, l.Wait(f.Ctx))
	assert.Empty(f.T, f.Holders("handover-paused"), "the hand-over that landed late was released")
}

// quietNode hides every optional interface of a Node: a Locker over such
// nodes is not told of releases and polls, as a waiter in another process
// without notifications would.
type quietNode struct{ core.Node }

// testHandOversLetOthersIn: Locks of one process handing the lock to each
// other do not keep it from the rest of the world forever.
func testHandOversBounded(f *Fixture) {
	subscriber(f)
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
					assert.NoError(f.T, m.Unlock(f.Ctx))
				}
			}
		}()
	}
	defer func() {
		stop()
		wg.Wait()
	}()
	if !assert.Eventually(f.T, func() bool { return cycles.Load() > 100 }, 10*time.Second, time.Millisecond) {
		f.T.Fatalf("the local Locks stalled after %d cycles", cycles.Load())
	}

	quiet := make([]core.Node, len(f.Nodes))
	for i, n := range f.Nodes {
		quiet[i] = quietNode{n}
	}
	other, err := core.New(quiet)
	require.NoError(f.T, err)
	outsider := other.NewMutex(name, core.WithRetry(retry.Constant(2*time.Millisecond, 0)))
	octx, cancel := context.WithTimeout(f.Ctx, 15*time.Second)
	defer cancel()
	require.NoError(f.T, outsider.Lock(octx), "a waiter outside the process never got the lock")
	require.NoError(f.T, outsider.Unlock(f.Ctx))
}

// testStartTogether: Locks that start at once split the votes, undo their
// writes and queue; the releases of those undos may come before they are
// in the queue. None of them may then sleep out its delay.
func testStartTogether(f *Fixture) {
	subscriber(f)
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
			assert.NoError(f.T, err)
		case <-timeout:
			f.T.Fatalf("%d of %d contenders acquired; the others wait for their 20 s delay", i, contenders)
		}
	}
}

// testGateOrder: contenders in processes that list the nodes in different
// orders meet at the same gate node.
func testGateOrder(f *Fixture) {
	reversed := slices.Clone(f.Nodes)
	slices.Reverse(reversed)
	other, err := core.New(reversed)
	require.NoError(f.T, err)
	holder := f.Locker().NewMutex("gate-order")
	require.NoError(f.T, holder.TryLock(f.Ctx))
	require.Eventually(f.T, func() bool { return len(f.Holders("gate-order")) == len(f.Servers) }, 5*time.Second, 2*time.Millisecond)
	gate := func(l *core.Locker) int {
		m := l.NewMutex("gate-order")
		require.ErrorIs(f.T, m.TryLock(f.Ctx), core.ErrNotAcquired) // meets the holder: the next rounds are gated
		require.NoError(f.T, l.Wait(f.Ctx))                         // the round's last node has answered
		f.OnAll("CONFIG", "RESETSTAT")
		require.ErrorIs(f.T, m.TryLock(f.Ctx), core.ErrNotAcquired)
		asked := -1
		for i := range f.Servers {
			if f.scriptCalls(i) > 0 {
				assert.Equal(f.T, -1, asked, "a gated round that the gate refused asked two nodes")
				asked = i
			}
		}
		return asked
	}
	a, b := gate(f.Locker()), gate(other)
	assert.NotEqual(f.T, -1, a)
	assert.Equal(f.T, a, b, "the two orders chose different gates")
}

// testNoWakeStorm: a lock held on a bare quorum leaves one node free, where
// a waiter's round can write before it fails. Cleaning that up must not
// wake the waiter again: it would loop, writing and cleaning up, for as
// long as the lock is held.
func testNoWakeStorm(f *Fixture) {
	subscriber(f)
	l := f.Locker()
	for free := range f.Servers {
		name := fmt.Sprintf("storm-%d", free)
		for i, s := range f.Servers {
			if i != free {
				_, err := s.Do("SET", core.Key(name), "holder|0000000000000001", "PX", "60000")
				require.NoError(f.T, err)
			}
		}
		f.OnAll("CONFIG", "RESETSTAT")
		ctx, cancel := context.WithTimeout(f.Ctx, 500*time.Millisecond)
		err := l.NewMutex(name, core.WithRetry(retry.Constant(20*time.Second, 0))).Lock(ctx)
		cancel()
		require.ErrorIs(f.T, err, core.ErrNotAcquired)
		require.NoError(f.T, l.Wait(f.Ctx))
		calls := 0
		for i := range f.Servers {
			calls += f.scriptCalls(i)
		}
		assert.Less(f.T, calls, 30, "the waiter made %d script calls in half a second with server %d free", calls, free)
	}
}

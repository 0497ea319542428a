package conformance

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/granularity"
)

// The cases of long-running jobs: keep-alive, loss, Do, owners, batching.
var keepAliveCases = []testCase{
	{"KeepAliveHoldsLongJob", 3, testLongJob, false},
	{"LossByFlushReachesJob", 3, testLossByFlush, false},
	{"LossByMajorityKilled", 3, testLossByMajority, false},
	{"DoReleasesOnPanic", 3, testDoPanic, false},
	{"TaskOwners", 3, testTaskOwners, false},
	{"MaxHoldEndsKeepAlive", 3, testMaxHold, false},
	{"EventsReportLifecycle", 3, testEvents, false},
	{"BatchedExtensions", 3, testBatch, false},
	{"NoGoroutineLeftBehind", 3, testNoLeak, false},
}

// job waits for d or until ctx ends, like a job that works for d.
func job(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func testLongJob(f *Fixture) {
	const ttl = 600 * time.Millisecond
	l := f.Locker(core.WithTTL(ttl), core.WithNodeTimeout(100*time.Millisecond))
	started := make(chan struct{})
	var refused atomic.Int32
	var running atomic.Bool // the job runs: from before fn starts until just before it returns
	running.Store(true)
	var wg sync.WaitGroup
	wctx, cancelWorker := context.WithCancel(f.Ctx)
	defer cancelWorker()
	wg.Add(1)
	go func() { // another worker keeps trying while the job runs
		defer wg.Done()
		select {
		case <-started:
		case <-wctx.Done():
			return
		}
		other := l.NewMutex("long")
		for running.Load() {
			err := other.TryLock(f.Ctx)
			if err == nil {
				assert.False(f.T, running.Load(), "another worker got the lock while the job held it")
				other.Unlock(f.Ctx)
				return
			}
			refused.Add(1)
			job(f.Ctx, 20*time.Millisecond)
		}
	}()
	err := l.Do(f.Ctx, "long", func(ctx context.Context) error {
		close(started)
		err := job(ctx, 5*ttl) // several TTLs
		running.Store(false)
		return err
	})
	running.Store(false)
	cancelWorker()
	wg.Wait()
	require.NoError(f.T, err)
	assert.Greater(f.T, refused.Load(), int32(10), "the other worker kept trying")
	require.NoError(f.T, l.NewMutex("long").TryLock(f.Ctx), "free the moment the job returns")
}

func testLossByFlush(f *Fixture) {
	const ttl = 900 * time.Millisecond
	l := f.Locker(core.WithTTL(ttl))
	var flushed, noticed time.Time
	err := l.Do(f.Ctx, "flushed", func(ctx context.Context) error {
		flushed = time.Now()
		f.OnAll("FLUSHALL")
		<-ctx.Done()
		noticed = time.Now()
		assert.ErrorIs(f.T, context.Cause(ctx), core.ErrLockLost)
		return errors.New("job stopped")
	})
	require.ErrorIs(f.T, err, core.ErrLockLost)
	assert.ErrorContains(f.T, err, "job stopped", "fn's error is kept")
	assert.Less(f.T, noticed.Sub(flushed), ttl*2/3, "the loss reached the job well before one TTL")
}

func testLossByMajority(f *Fixture) {
	l := f.Locker(core.WithTTL(time.Second), core.WithNodeTimeout(100*time.Millisecond), core.WithKeepAlive(true))
	m := l.NewMutex("majority")
	require.NoError(f.T, m.Lock(f.Ctx))
	done := m.Done()
	require.NoError(f.T, m.Err())
	f.Servers[0].Kill()
	f.Servers[2].Kill()
	select {
	case <-done:
	case <-f.Ctx.Done():
		f.T.Fatal("loss never signalled")
	}
	assert.True(f.T, time.Now().Before(m.Until()), "loss signalled before the validity ended")
	assert.ErrorIs(f.T, m.Err(), core.ErrLockLost)
}

func testDoPanic(f *Fixture) {
	l := f.Locker()
	func() {
		defer func() { assert.Equal(f.T, "boom", recover()) }()
		l.Do(f.Ctx, "panics", func(context.Context) error { panic("boom") })
	}()
	f.WaitFree("panics")
	require.NoError(f.T, l.NewMutex("panics").TryLock(f.Ctx))
}

func testTaskOwners(f *Fixture) {
	l := f.Locker(core.WithOwner(granularity.Task()))
	a := granularity.WithTask(f.Ctx, "a")
	b := granularity.WithTask(f.Ctx, "b")
	m1, m2 := l.NewMutex("task"), l.NewMutex("task")
	require.NoError(f.T, m1.TryLock(a))
	assert.ErrorIs(f.T, m2.TryLock(b), core.ErrNotAcquired, "another task is refused")
	assert.ErrorIs(f.T, m2.Unlock(b), core.ErrNotHeld, "another task cannot release")
	f.shorten("task")
	require.NoError(f.T, m2.TryLock(a), "the same task on another handle refreshes")
	assert.ErrorIs(f.T, m1.TryLock(f.Ctx), granularity.ErrNoTask)
	// Let m2's refresh land everywhere: a refresh still in flight on a slow
	// node can land after m1's release there, and lives until its TTL.
	f.WaitPTTLAbove("task", 2000)
	require.NoError(f.T, m1.Unlock(a))
	f.WaitFree("task")

	// Host: all handles of the machine are one owner.
	h := f.Locker(core.WithOwner(granularity.Host()))
	require.NoError(f.T, h.NewMutex("host").TryLock(f.Ctx))
	require.NoError(f.T, h.NewMutex("host").TryLock(f.Ctx))
	assert.ErrorIs(f.T, l.NewMutex("host", core.WithOwner(granularity.Process())).TryLock(f.Ctx), core.ErrNotAcquired)
}

func testMaxHold(f *Fixture) {
	const ttl = 400 * time.Millisecond
	l := f.Locker(core.WithTTL(ttl), core.WithNodeTimeout(50*time.Millisecond))
	start := time.Now()
	err := l.Do(f.Ctx, "capped", func(ctx context.Context) error {
		return job(ctx, 20*ttl)
	}, core.WithMaxHold(2*ttl))
	require.ErrorIs(f.T, err, core.ErrLockLost)
	held := time.Since(start)
	assert.Greater(f.T, held, ttl, "extended at least once")
	assert.Less(f.T, held, 2*ttl+ttl/2, "not extended past the cap")
}

func testEvents(f *Fixture) {
	var mu sync.Mutex
	var kinds []core.EventKind
	l := f.Locker(core.WithTTL(600*time.Millisecond), core.WithNodeTimeout(100*time.Millisecond), core.WithEvents(func(e core.Event) {
		assert.Equal(f.T, "events", e.Name)
		mu.Lock()
		kinds = append(kinds, e.Kind)
		mu.Unlock()
	}))
	require.NoError(f.T, l.Do(f.Ctx, "events", func(ctx context.Context) error { return job(ctx, time.Second) }))
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(f.T, kinds)
	assert.Equal(f.T, core.Acquired, kinds[0])
	assert.Contains(f.T, kinds, core.Extended)
	assert.Equal(f.T, core.Released, kinds[len(kinds)-1])
}

func testBatch(f *Fixture) {
	b, ok := f.Nodes[0].(core.Batcher)
	if !ok {
		f.T.Skip("the Node does not implement core.Batcher; core extends one call at a time")
	}
	scripts := core.Scripts()
	acquire, extend := scripts[0], scripts[2]
	f.OnAll("SCRIPT", "FLUSH")
	_, err := f.Servers[0].Do("SET", core.Key("b1"), "me|0000000000000001")
	require.NoError(f.T, err)
	calls := []core.Call{
		{Script: extend, Keys: []string{core.Key("b1")}, Args: []string{"me|", "60000"}},
		{Script: extend, Keys: []string{core.Key("b2")}, Args: []string{"me|", "60000"}},
		{Script: acquire, Keys: []string{core.Key("b3")}, Args: []string{"me|", "0000000000000002", "60000", "0"}},
	}
	b.EvalBatch(f.Ctx, calls)
	for i, c := range calls {
		require.NoError(f.T, c.Err, "call %d", i)
	}
	assert.Equal(f.T, []any{int64(1), int64(0), int64(1)}, []any{calls[0].Reply, calls[1].Reply, calls[2].Reply})
	assert.Greater(f.T, f.PTTL(0, "b1"), int64(50000))
}

func testNoLeak(f *Fixture) {
	l := f.Locker(core.WithTTL(300*time.Millisecond), core.WithNodeTimeout(100*time.Millisecond), core.WithKeepAlive(true))
	warm := l.NewMutex("warm") // let the clients open their connections first
	require.NoError(f.T, warm.Lock(f.Ctx))
	require.NoError(f.T, warm.Unlock(f.Ctx))

	m := l.NewMutex("leak")
	require.NoError(f.T, m.Lock(f.Ctx))
	require.NoError(f.T, job(f.Ctx, 250*time.Millisecond)) // a few keep-alive rounds
	require.NoError(f.T, m.Unlock(f.Ctx))
	select {
	case <-m.Done():
	default:
		f.T.Error("Done still open after Unlock")
	}
	require.NoError(f.T, l.Do(f.Ctx, "leak-do", func(ctx context.Context) error { return job(ctx, 250*time.Millisecond) }))
	// Clients may start goroutines of their own (connections opened on
	// first use); the check is for goroutines of this module.
	assert.Eventually(f.T, func() bool { return len(ownGoroutines()) == 0 }, 5*time.Second, 5*time.Millisecond,
		"goroutines left behind:\n%s", strings.Join(ownGoroutines(), "\n\n"))
}

// ownGoroutines returns the stacks of live goroutines that run code of the
// core package, other than the caller's.
func ownGoroutines() []string {
	var out []string
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i > 0 && strings.Contains(g, "github.com/redlock-go/redlock/core.") {
			out = append(out, g)
		}
	}
	return out
}

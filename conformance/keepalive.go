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
)

// The cases of long-running jobs: keep-alive, loss, and the goroutines left
// behind.
var keepAliveCases = []testCase{
	{"KeepAliveHoldsLongJob", 3, testLongJob, false},
	{"LossByFlushReachesJob", 3, testLossByFlush, false},
	{"NoGoroutineLeftBehind", 3, testNoLeak, false},
	{"NothingLeftBehind", 3, testNothingLeft, false},
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
			Job(f.Ctx, 20*time.Millisecond)
		}
	}()
	err := l.Do(f.Ctx, "long", func(ctx context.Context) error {
		close(started)
		err := Job(ctx, 5*ttl) // several TTLs
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

func testNoLeak(f *Fixture) {
	l := f.Locker(core.WithTTL(300*time.Millisecond), core.WithNodeTimeout(100*time.Millisecond), core.WithKeepAlive(true))
	warm := l.NewMutex("warm") // let the clients open their connections first
	require.NoError(f.T, warm.Lock(f.Ctx))
	require.NoError(f.T, warm.Unlock(f.Ctx))

	m := l.NewMutex("leak")
	require.NoError(f.T, m.Lock(f.Ctx))
	require.NoError(f.T, Job(f.Ctx, 250*time.Millisecond)) // a few keep-alive rounds
	require.NoError(f.T, m.Unlock(f.Ctx))
	select {
	case <-m.Done():
	default:
		f.T.Error("Done still open after Unlock")
	}
	require.NoError(f.T, l.Do(f.Ctx, "leak-do", func(ctx context.Context) error { return Job(ctx, 250*time.Millisecond) }))
	// Clients may start goroutines of their own (connections opened on
	// first use); the check is for goroutines of this module.
	assert.Eventually(f.T, func() bool { return len(ownGoroutines()) == 0 }, 5*time.Second, 5*time.Millisecond,
		"goroutines left behind:\n%s", strings.Join(ownGoroutines(), "\n\n"))
}

// After a busy run with a fault (workers contending for three names, some
// fenced, waiting and woken, while one server pauses), every Unlock
// returned and Locker.Wait: no lock key is left on any server, only the
// fencing counters; the subscriptions close and core's goroutines end once
// the waiters' idle time has passed.
func testNothingLeft(f *Fixture) {
	const workers, rounds = 6, 12
	opts := []core.Option{core.WithTTL(30 * time.Second), core.WithNodeTimeout(100 * time.Millisecond)} // a key left behind would outlive the run
	plain, fenced := f.Locker(opts...), f.Locker(append(opts, core.WithFencing())...)
	names := []string{"busy-a", "busy-b", "busy-c"}
	var wg sync.WaitGroup
	var done atomic.Int32
	for w := range workers {
		l := plain
		if w%2 == 1 {
			l = fenced
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				m := l.NewMutex(names[(w+i)%len(names)])
				if !assert.NoError(f.T, m.Lock(f.Ctx), "worker %d round %d", w, i) {
					return
				}
				done.Add(1)
				assert.NoError(f.T, m.Unlock(f.Ctx), "worker %d round %d", w, i)
			}
		}()
	}
	require.Eventually(f.T, func() bool { return done.Load() >= workers*rounds/4 }, 30*time.Second, time.Millisecond)
	f.Servers[2].Pause()
	paused := done.Load()
	require.Eventually(f.T, func() bool { return done.Load() >= paused+3 }, 30*time.Second, time.Millisecond, "no progress with a server paused")
	f.Servers[2].Resume()
	wg.Wait()
	require.NoError(f.T, plain.Wait(f.Ctx))
	require.NoError(f.T, fenced.Wait(f.Ctx))

	for i, s := range f.Servers {
		v, err := s.Do("KEYS", "redlock:*")
		require.NoError(f.T, err)
		for _, k := range v.([]any) {
			key := k.(string)
			assert.True(f.T, strings.HasSuffix(key, ":fence"), "server %d: %s left behind", i, key)
		}
	}
	assert.Eventually(f.T, func() bool {
		for _, s := range f.Servers {
			if v, err := s.Do("PUBSUB", "NUMPAT"); err != nil || v.(int64) != 0 {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond, "a subscription stayed open")
	assert.Eventually(f.T, func() bool { return len(ownGoroutines()) == 0 }, 10*time.Second, 10*time.Millisecond,
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

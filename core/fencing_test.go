package core_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/internal/testnode"
)

// Each node of five in turn is lost and restarts empty; the tokens keep
// increasing, since every quorum shares a node with the last.
func TestFencingSurvivesSingleNodeLoss(t *testing.T) {
	f := newFixture(t, 5)
	l := f.Locker(core.WithFencing(), core.WithNodeTimeout(200*time.Millisecond))
	var last uint64
	take := func(what string) {
		t.Helper()
		m := l.NewMutex("fenced")
		require.NoError(t, m.Lock(f.Ctx), what)
		require.Greater(t, m.Fence(), last, what)
		last = m.Fence()
		require.NoError(t, m.Unlock(f.Ctx), what)
	}
	take("all up")
	for i, s := range f.Servers {
		s.Kill()
		take("node " + strconv.Itoa(i) + " down")
		require.NoError(t, s.Restart())
		take("node " + strconv.Itoa(i) + " restarted empty")
	}
}

// Fenced names used once leave nothing behind once the counter TTL has
// passed, and a name fenced again after its counters expired still gets a
// higher token: the clock, not the counter, puts it above.
func TestCountersExpire(t *testing.T) {
	const names, workers = 10000, 32
	f := newFixture(t, 3)
	l := f.Locker(core.WithFencing(), core.WithCounterTTL(time.Second))
	first := l.NewMutex("reused")
	require.NoError(t, first.TryLock(f.Ctx))
	last := first.Fence()
	require.NoError(t, first.Unlock(f.Ctx))
	for i, s := range f.Servers {
		v, err := s.Do("PTTL", core.FenceKey("reused"))
		require.NoError(t, err)
		require.True(t, v.(int64) > 0 && v.(int64) <= 1000, "node %d: the counter's PTTL is %v, not the counter TTL", i, v)
	}

	next := make(chan int, names)
	for i := range names {
		next <- i
	}
	close(next)
	errs := make(chan error, workers)
	for range workers {
		go func() {
			for i := range next {
				m := l.NewMutex("job-" + strconv.Itoa(i))
				if err := m.Lock(f.Ctx); err != nil {
					errs <- err
					return
				}
				token := m.Fence()
				if err := m.Unlock(f.Ctx); err != nil || token == 0 {
					errs <- errors.Join(err, fmt.Errorf("name %d: token %d", i, token))
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		require.NoError(t, <-errs)
	}
	f.settle(l)
	// The server removes expired keys in the background: wait for it.
	for i, s := range f.Servers {
		require.Eventually(t, func() bool {
			v, err := s.Do("DBSIZE")
			return err == nil && v == int64(0)
		}, 20*time.Second, 50*time.Millisecond, "node %d kept keys after the counter TTL", i)
	}

	again := l.NewMutex("reused")
	require.NoError(t, again.TryLock(f.Ctx))
	require.Greater(t, again.Fence(), last, "a token after the counters expired")
	require.NoError(t, again.Unlock(f.Ctx))
}

// A commit that comes late can re-create an expired counter with an old
// token: the next acquisition then reads that old value alone, and must
// still take a token above every one before. Five nodes with durable
// counters (a bare quorum commits): holder a's commit to node 4 is held
// while b, after a lost the lock elsewhere, takes a higher token on nodes
// 0-3; then a's commit lands on node 4, whose key is still a's; then the
// counters on nodes 0-3 go, as their expiry, a few milliseconds before node
// 4's, would take them (here deleted, so that the order does not rest on
// timing).
func TestTokenAboveALateCounter(t *testing.T) {
	f := newFixture(t, 5)
	opts := []core.Option{core.WithFencing(), core.WithDurableCounters(), core.WithCounterTTL(time.Minute)}
	const name = "late-counter"
	land, landed := make(chan struct{}), make(chan struct{})
	f.faulty[4].On("fence", 1, func(ctx context.Context, c testnode.Call, run func(context.Context) (any, error)) (any, error) {
		defer close(landed)
		<-land // a request that reaches the server late; the round is decided without it
		return run(context.WithoutCancel(ctx))
	})
	a := f.Locker(opts...).NewMutex(name)
	require.NoError(t, a.TryLock(f.Ctx))
	t1 := a.Fence()
	for i := range 4 {
		_, err := f.Servers[i].Do("DEL", core.Key(name)) // a's keys expire on nodes 0-3
		require.NoError(t, err)
	}
	b := f.Locker(opts...).NewMutex(name)
	require.NoError(t, b.TryLock(f.Ctx), "nodes 0-3 grant")
	t2 := b.Fence()
	require.Greater(t, t2, t1)
	require.NoError(t, b.Unlock(f.Ctx))
	close(land)
	<-landed
	v, err := f.Servers[4].Do("GET", core.FenceKey(name))
	require.NoError(t, err)
	require.Equal(t, strconv.FormatUint(t1, 10), v, "the late commit re-created node 4's counter with a's token")
	for i := range 4 {
		_, err := f.Servers[i].Do("DEL", core.FenceKey(name))
		require.NoError(t, err)
	}
	_, err = f.Servers[4].Do("DEL", core.Key(name)) // a's last key expires
	require.NoError(t, err)

	c := f.Locker(opts...).NewMutex(name)
	require.NoError(t, c.TryLock(f.Ctx))
	require.Greater(t, c.Fence(), t2, "the token after b's, whose counters expired")
	require.NoError(t, c.Unlock(f.Ctx))
}

package faults

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

// The scenarios of Martin Kleppmann's "How to do distributed locking"
// (2016), each a named test.

// fencedStore is the resource a lock protects, as the fencing argument
// needs it: it remembers the highest token it has seen and refuses a write
// that carries a lower one. A store that cannot check tokens has no way to
// tell a late writer from the current holder.
type fencedStore struct {
	mu      sync.Mutex
	highest uint64
	value   string
}

var errStaleToken = errors.New("write refused: stale fencing token")

// write stores v if token is not lower than any token seen before.
func (s *fencedStore) write(token uint64, v string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token < s.highest {
		return fmt.Errorf("%w %d, the store has seen %d", errStaleToken, token, s.highest)
	}
	s.highest, s.value = token, v
	return nil
}

func (s *fencedStore) read() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.value
}

// testStalledHolder: a holder stops (a GC pause, a stalled process; here
// its network goes silent) past its TTL. Its watchdog must report the loss
// before the validity ends, another client may then take the lock, and
// the holder's late write must be refused by a resource that checks
// fencing tokens.
func testStalledHolder(t *testing.T, ctx context.Context, h conformance.Harness) {
	const name = "stalled"
	c := newCluster(t, h, 5, 2)
	opts := []core.Option{core.WithTTL(ttl), core.WithNodeTimeout(nodeTimeout), core.WithFencing()}
	valid := &validity{}
	holder := c.locker(0, append(opts, core.WithKeepAlive(true), valid.option())...).NewMutex(name)
	other := c.locker(1, opts...).NewMutex(name)
	store := &fencedStore{}

	require.NoError(t, lockWithin(ctx, holder, 5*time.Second))
	token := holder.Fence()
	require.NotZero(t, token)
	require.NoError(t, store.write(token, "holder, on time"))
	first := holder.Until()
	require.Eventually(t, func() bool { return holder.Until().After(first) }, ttl, 5*time.Millisecond,
		"the watchdog extends the lock")

	// The holder stalls: from now on nothing it sends arrives.
	for i := range c.servers {
		c.proxies[0][i].Blackhole()
	}
	stalled := time.Now()
	never := time.NewTimer(3 * ttl)
	defer never.Stop()
	select {
	case <-holder.Done():
	case <-never.C:
		t.Fatalf("the loss was not reported within %v of the stall", 3*ttl)
	}
	noticed := time.Now()
	until := valid.last()
	assert.True(t, noticed.Before(until), "the loss was reported %v after the validity ended", noticed.Sub(until))
	assert.True(t, holder.Until().IsZero(), "Until after the loss")
	assert.ErrorIs(t, holder.Err(), core.ErrLockLost)
	assert.Less(t, noticed.Sub(stalled), ttl+nodeTimeout, "the loss was reported within a TTL of the stall")

	require.NoError(t, lockWithin(ctx, other, 3*ttl), "another client takes the lock once the holder's keys expire")
	acquired := time.Now()
	assert.False(t, acquired.Before(until), "the other client acquired %v before the holder's validity ended", until.Sub(acquired))
	next := other.Fence()
	assert.Greater(t, next, token, "the next holder's token is higher")
	require.NoError(t, store.write(next, "other"))

	// The holder wakes up and writes what it computed under its lock.
	err := store.write(token, "holder, late")
	assert.ErrorIs(t, err, errStaleToken, "the late write is refused")
	assert.Equal(t, "other", store.read())

	// Its network comes back and delivers the extensions it held: they
	// find another owner's key and change nothing.
	for i := range c.servers {
		c.proxies[0][i].Heal()
	}
	require.NoError(t, other.Extend(ctx), "the new holder still holds the lock")
	assert.ErrorIs(t, holder.Unlock(ctx), core.ErrNotHeld, "the stalled holder no longer holds it")
	require.NoError(t, other.Extend(ctx), "the stalled holder's Unlock released nothing of the new holder's")
	require.NoError(t, other.Unlock(ctx))
	c.waitNoLocks(time.Second)
	c.close()
	checkNoLeaks(t)
	t.Logf("stalled at 0, loss reported after %v with %v of validity left; other client acquired after %v, %v after the validity ended; tokens %d then %d",
		noticed.Sub(stalled).Round(time.Millisecond), until.Sub(noticed).Round(time.Millisecond),
		acquired.Sub(stalled).Round(time.Millisecond), acquired.Sub(until).Round(time.Millisecond), token, next)
}

// testRestart: a server restarted without persistence forgets the locks
// it granted. Restarted at once, it lets a second client win a quorum that
// overlaps the first holder's; kept out for longer than the TTL (the
// delayed restart that Redlock's description advises), it cannot.
func testRestart(t *testing.T, ctx context.Context, h conformance.Harness) {
	t.Run("Immediate", func(t *testing.T) {
		const name = "restart"
		c := newCluster(t, h, 5, 2)
		// A TTL long enough that the first holder's validity surely spans
		// the restart and the second acquisition.
		opts := []core.Option{core.WithTTL(5 * time.Second), core.WithNodeTimeout(nodeTimeout)}
		al := c.locker(0, opts...)
		a := al.NewMutex(name)
		b := c.locker(1, opts...).NewMutex(name)

		c.cut(0, 3, 4)
		require.NoError(t, a.TryLock(ctx))
		aStart, aUntil := time.Now(), a.Until()
		require.Equal(t, []int{0, 1, 2}, c.holders(name), "a holds the lock on servers 0, 1, 2")

		require.NoError(t, c.servers[2].Restart()) // back at once, empty
		c.cut(1, 0, 1)
		require.NoError(t, lockWithin(ctx, b, 2*time.Second), "b wins servers 2, 3, 4: server 2 forgot a's lock")
		bStart, bUntil := time.Now(), b.Until()
		require.True(t, bStart.Before(aUntil), "the acquisitions must overlap for the demonstration")
		assert.Equal(t, []int{0, 1, 2, 3, 4}, c.holders(name))
		// The campaign's check sees it as what it is.
		now := time.Now()
		violations, _ := exclusionViolations(aStart, []section{
			{client: 0, start: aStart, end: now, until: aUntil},
			{client: 1, start: bStart, end: now, until: bUntil},
		})
		assert.Len(t, violations, 1)
		t.Logf("as expected without the delayed restart, a holds servers 0, 1, 2 and b holds 2, 3, 4: %v", violations)

		c.mend(0, 3, 4)
		c.mend(1, 0, 1)
		// a's lock survives on servers 0 and 1 only: no quorum can be a's,
		// so its Unlock releases what is left, and returns nil, or
		// ErrNotHeld when a quorum answers that the lock is not a's.
		if err := a.Unlock(ctx); err != nil {
			assert.ErrorIs(t, err, core.ErrNotHeld)
		}
		require.NoError(t, al.Wait(ctx)) // Unlock returns once its outcome is known
		for _, i := range []int{0, 1} {
			assert.NotContains(t, c.holders(name), i, "a's Unlock left its key on server %d", i)
		}
		// A connection that was cut a moment ago may fail once (EOF)
		// before its client dials again: release until nothing is left.
		assert.Eventually(t, func() bool { return b.Unlock(ctx) == nil || len(c.holders(name)) == 0 },
			5*time.Second, 10*time.Millisecond, "b releases the lock")
		c.waitNoLocks(time.Second)
		c.close()
		checkNoLeaks(t)
	})

	t.Run("Delayed", func(t *testing.T) {
		const name = "restart"
		c := newCluster(t, h, 5, 2)
		opts := []core.Option{core.WithTTL(ttl), core.WithNodeTimeout(nodeTimeout)}
		a := c.locker(0, opts...).NewMutex(name)
		b := c.locker(1, opts...).NewMutex(name)

		c.cut(0, 3, 4)
		require.NoError(t, a.TryLock(ctx))
		aStart, aUntil := time.Now(), a.Until()
		require.Equal(t, []int{0, 1, 2}, c.holders(name), "a holds the lock on servers 0, 1, 2")

		rejoined := restartDelayed(t, c, 2)
		c.cut(1, 0, 1)
		assert.ErrorIs(t, b.TryLock(ctx), core.ErrNotAcquired, "server 2 is kept out: b has two servers of five")
		require.NoError(t, lockWithin(ctx, b, 3*ttl), "b wins servers 2, 3, 4 once server 2 rejoins")
		bStart, bUntil := time.Now(), b.Until()
		assert.False(t, bStart.Before(aUntil), "b acquired %v before a's validity ended", aUntil.Sub(bStart))
		now := time.Now()
		violations, _ := exclusionViolations(aStart, []section{
			{client: 0, start: aStart, end: now, until: aUntil},
			{client: 1, start: bStart, end: now, until: bUntil},
		})
		assert.Empty(t, violations)
		<-rejoined
		t.Logf("with the delayed restart, b acquired %v after a's validity ended",
			bStart.Sub(aUntil).Round(time.Millisecond))

		c.mend(0, 3, 4)
		c.mend(1, 0, 1)
		assert.ErrorIs(t, a.Unlock(ctx), core.ErrNotHeld, "a's lock expired")
		require.NoError(t, b.Unlock(ctx))
		c.waitNoLocks(time.Second)
		c.close()
		checkNoLeaks(t)
	})
}

// restartDelayed crashes server i and restarts it empty, partitioned off
// from every client until rejoinAfter has passed; the returned channel is
// closed when it has rejoined.
func restartDelayed(t *testing.T, c *cluster, i int) <-chan struct{} {
	t.Helper()
	for k := range c.proxies {
		c.proxies[k][i].Refuse()
	}
	require.NoError(t, c.servers[i].Restart())
	rejoined := make(chan struct{})
	time.AfterFunc(rejoinAfter, func() {
		for k := range c.proxies {
			c.proxies[k][i].Heal()
		}
		close(rejoined)
	})
	return rejoined
}

// testFenceCounters: a fencing token is 1 + the highest counter the
// acquisition read (or the clock, if higher), committed on a fence quorum; order rests on every
// later acquisition's quorum sharing a server that kept its counter with
// the last commit. A delayed restart protects the lock, not the counters.
// By default a token is committed on a quorum plus one server, so that one
// server that restarts empty leaves another in the intersection: tokens
// keep increasing. WithDurableCounters commits on a bare quorum, which
// needs the counters to survive: without persistence only the clock
// keeps the tokens increasing, with AOF and appendfsync always the
// counters do.
func testFenceCounters(t *testing.T, ctx context.Context, h conformance.Harness) {
	t.Run("OneEmptyRestartTolerated", func(t *testing.T) {
		before, after := fenceAcrossRestart(t, ctx, h, nil, []int{4}, []int{0})
		assert.Greater(t, after, before, "tokens increase across one server that restarted empty")
		t.Logf("tokens %d, then %d after server 2 restarted empty", before, after)
	})
	t.Run("DurableCountersWithoutPersistence", func(t *testing.T) {
		// The counters alone would go backwards here (the quorum b reads
		// is the restarted server and two that a never reached). What
		// keeps the token increasing is the clock a token is seeded from
		// (see core.WithFencing): a and b share one. Processes whose
		// clocks are apart by more than the time between two acquisitions
		// have only the counters, and can repeat a token.
		before, after := fenceAcrossRestart(t, ctx, h, []core.Option{core.WithDurableCounters()}, []int{3, 4}, []int{0, 1})
		assert.Greater(t, after, before, "with one clock, the token is above the lost counter's")
		t.Logf("tokens %d, then %d after server 2 restarted empty: above it by the clock alone", before, after)
	})
	t.Run("DurableCountersWithAOF", func(t *testing.T) {
		before, after := fenceAcrossRestart(t, ctx, h, []core.Option{core.WithDurableCounters()}, []int{3, 4}, []int{0, 1},
			"--appendonly", "yes", "--appendfsync", "always")
		assert.Greater(t, after, before, "tokens increase across a restart of a server that keeps its data")
		t.Logf("tokens %d, then %d after server 2 restarted with its data", before, after)
	})
}

// fenceAcrossRestart has client a, cut off the servers in aCut, take the
// lock three times, restarts server 2 (delayed), then has client b, cut
// off the servers in bCut, take it. It returns a's last token and b's.
func fenceAcrossRestart(t *testing.T, ctx context.Context, h conformance.Harness, extraOpts []core.Option, aCut, bCut []int, extra ...string) (before, after uint64) {
	const name = "fenced"
	c := newCluster(t, h, 5, 2, extra...)
	opts := append([]core.Option{core.WithTTL(ttl), core.WithNodeTimeout(nodeTimeout), core.WithFencing()}, extraOpts...)
	a, b := c.locker(0, opts...), c.locker(1, opts...)

	c.cut(0, aCut...)
	for range 3 {
		m := a.NewMutex(name)
		require.NoError(t, lockWithin(ctx, m, 5*time.Second))
		require.Greater(t, m.Fence(), before)
		before = m.Fence()
		require.NoError(t, m.Unlock(ctx))
	}
	for i, s := range c.servers {
		v, err := s.Do("GET", core.FenceKey(name))
		require.NoError(t, err)
		if slices.Contains(aCut, i) {
			assert.Nil(t, v, "server %d was never reached", i)
		} else {
			assert.Equal(t, fmt.Sprint(before), v, "counter on server %d", i)
		}
	}

	rejoined := restartDelayed(t, c, 2)
	c.cut(1, bCut...)
	m := b.NewMutex(name)
	require.NoError(t, lockWithin(ctx, m, 3*ttl))
	after = m.Fence()
	require.NoError(t, m.Unlock(ctx))
	<-rejoined
	c.mend(0, aCut...)
	c.mend(1, bCut...)
	c.waitNoLocks(time.Second)
	c.close()
	checkNoLeaks(t)
	return before, after
}

// lockWithin is m.Lock bounded by d, so that a lock that cannot be taken
// fails the test early.
func lockWithin(ctx context.Context, m *core.Mutex, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return m.Lock(ctx)
}

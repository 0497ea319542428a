package faults

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

// majorityTTL is long against the wait for a clean keyspace, so that keys
// found gone were released by the failed rounds, not expired.
const majorityTTL = 3 * time.Second

// testMajority takes a majority of the servers away, in two ways, and shows
// that the lock refuses rather than grants, and that refused rounds leave
// nothing behind on the servers that did answer.
func testMajority(t *testing.T, ctx context.Context, h conformance.Harness) {
	const clients = 5
	c := newCluster(t, h, 5, clients)
	lockers := make([]*core.Locker, clients)
	for i := range lockers {
		lockers[i] = c.locker(i, core.WithTTL(majorityTTL), core.WithNodeTimeout(nodeTimeout))
	}
	phase := 700 * time.Millisecond
	if *long {
		phase = 30 * time.Second
	}

	// Every server runs, but each client sees a different two of them.
	for k := range clients {
		c.cut(k, (k+2)%5, (k+3)%5, (k+4)%5)
	}
	asMinority := hammer(ctx, t, lockers, phase)
	c.waitNoLocks(time.Second)
	for k := range clients {
		c.mend(k, 0, 1, 2, 3, 4)
	}

	// One server crashed, one paused, one partitioned off from everyone
	// with its traffic held; servers 3 and 4 answer.
	c.servers[0].Kill()
	c.servers[1].Pause()
	for k := range clients {
		c.proxies[k][2].Blackhole()
	}
	crashed := hammer(ctx, t, lockers, phase)
	c.waitNoLocks(time.Second, 3, 4)

	// Heal: the crashed server comes back (no lock is held, so at once),
	// the paused one resumes, and the partition ends with its connections
	// gone, as a long partition ends them.
	require.NoError(t, c.servers[0].Restart())
	c.servers[1].Resume()
	for k := range clients {
		c.proxies[k][2].Refuse()
		c.proxies[k][2].Heal()
	}
	m := lockers[0].NewMutex(lockName)
	require.NoError(t, lockWithin(ctx, m, 5*time.Second), "the lock is granted again once a majority is back")
	require.NoError(t, m.Unlock(ctx))
	// The paused server ran the rounds it had queued when it resumed.
	c.waitNoLocks(majorityTTL + time.Second)
	c.close()
	checkNoLeaks(t)
	t.Logf("every client in a minority partition: %d rounds, all refused", asMinority)
	t.Logf("one server crashed, one paused, one partitioned: %d rounds, all refused", crashed)
}

// hammer has each Locker try the lock round after round for d and fails
// the test for any round that is not refused. It returns the rounds made.
//
// Rounds run to their end: a round cut short by its context leaves the
// outcome of its calls in flight unknown, and on a pooled client the
// release that undoes one may overtake it on another connection; that key
// then lives out its TTL, which is not what this checks.
func hammer(ctx context.Context, t *testing.T, lockers []*core.Locker, d time.Duration) int64 {
	phase, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var rounds atomic.Int64
	var wg sync.WaitGroup
	for k, l := range lockers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := l.NewMutex(lockName)
			for phase.Err() == nil {
				err := m.TryLock(ctx)
				rounds.Add(1)
				if err == nil {
					t.Errorf("client %d acquired the lock without a majority", k)
					m.Unlock(context.WithoutCancel(ctx))
					continue
				}
				assert.True(t, errors.Is(err, core.ErrNotAcquired), "client %d: %v", k, err)
			}
		}()
	}
	wg.Wait()
	assert.Positive(t, rounds.Load())
	return rounds.Load()
}

// testRefusedRoundsLeaveNothing: a refused round releases every server it
// may have written, and so does the next one, even when the first round's
// release of a slow server lands after the second round's acquire there.
// The second round then finds its own owner's key and refreshes it; having
// held nothing before, it must release it like any other write.
//
// Server 0 runs each round's script at once and its reply is held until
// both rounds have been refused: each round is decided before server 0's
// answer, and the first round's undo can only go out after the second
// round's acquire ran.
func testRefusedRoundsLeaveNothing(t *testing.T, ctx context.Context, h conformance.Harness) {
	const name = "refused"
	c := newCluster(t, h, 3, 1)
	slow := holdReplies(c.nodes[0][0])
	c.nodes[0][0] = slow
	t.Cleanup(slow.release)
	m := c.locker(0, core.WithTTL(5*time.Second), core.WithNodeTimeout(time.Second)).NewMutex(name)

	c.cut(0, 1, 2)
	require.ErrorIs(t, m.TryLock(ctx), core.ErrNotAcquired)
	require.ErrorIs(t, m.TryLock(ctx), core.ErrNotAcquired)
	require.Equal(t, int32(2), slow.ran.Load(), "both rounds' acquires ran on server 0")
	require.Equal(t, []int{0}, c.holders(name), "server 0 holds the rounds' claims while their replies are out")
	slow.release()
	c.waitNoLocks(time.Second)

	c.mend(0, 1, 2)
	c.close()
	checkNoLeaks(t)
}

// heldNode runs each call on its Node at once and holds the reply until
// release: a reply late by as long as the test wants, with no reliance on
// timing. Only the Node's Eval is exposed (no Batcher, no Subscriber).
type heldNode struct {
	core.Node
	ran     atomic.Int32  // calls whose script ran while replies were held
	held    chan struct{} // closed by release
	release func()
}

func holdReplies(n core.Node) *heldNode {
	h := &heldNode{Node: n, held: make(chan struct{})}
	h.release = sync.OnceFunc(func() { close(h.held) })
	return h
}

func (h *heldNode) Eval(ctx context.Context, s *core.Script, keys, args []string) (any, error) {
	select {
	case <-h.held:
		return h.Node.Eval(ctx, s, keys, args)
	default:
	}
	v, err := h.Node.Eval(context.WithoutCancel(ctx), s, keys, args)
	h.ran.Add(1)
	<-h.held
	return v, err
}

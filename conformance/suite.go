package conformance

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

	"github.com/redlock-go/redlock/core"
)

// Harness connects the adapter under test to the suite's servers.
type Harness interface {
	// NewNode returns a Node for the redis-server at addr (host:port on
	// 127.0.0.1) and registers its cleanup with t.Cleanup.
	NewNode(t testing.TB, addr string) core.Node
}

// HarnessFunc adapts a function to Harness.
type HarnessFunc func(t testing.TB, addr string) core.Node

// NewNode calls f(t, addr).
func (f HarnessFunc) NewNode(t testing.TB, addr string) core.Node { return f(t, addr) }

// URLHarness is an optional ability of a Harness: building a Node from a
// connection URL (redis://, rediss://, unix://), as the adapters'
// NewNodeFromURL functions do. Run probes for it and skips the URL cases,
// with a reason, when the Harness lacks it.
type URLHarness interface {
	Harness
	// NewNodeFromURL returns a Node for rawURL, or the adapter's error for
	// a URL it cannot use. The Node must not need its server at
	// construction: it connects on first use and reconnects later.
	NewNodeFromURL(t testing.TB, rawURL string) (core.Node, error)
}

func isURLHarness(h Harness) bool { _, ok := h.(URLHarness); return ok }

// fromURL builds a Node through the URLHarness.
func (f *Fixture) fromURL(rawURL string) (core.Node, error) {
	return f.h.(URLHarness).NewNodeFromURL(f.T, rawURL)
}

type testCase struct {
	name    string
	servers int
	run     func(f *Fixture)
	urls    bool // needs a URLHarness
}

// Run runs the conformance suite against the adapter that h builds: each
// case in a subtest of its own, on a fresh NewFixture.
func Run(t *testing.T, h Harness) {
	all := slices.Concat(cases, nodeCases, keepAliveCases, fencingCases, waitingCases, restartCases, urlCases, aclCases, semaphoreCases, inspectCases, electionCases, breakCases)
	for _, c := range all {
		t.Run(c.name, func(t *testing.T) {
			if c.urls && !isURLHarness(h) {
				t.Skip("the Harness has no NewNodeFromURL (URLHarness)")
			}
			c.run(NewFixture(t, h, c.servers))
		})
	}
}

// increment is the work of a critical section: it counts the holders
// inside it at once (a second one is an overlap) and increments the key
// "counter" by a read and a write, which overlapping holders would lose.
func increment(ctx context.Context, counter *Conn, holders, overlaps *atomic.Int32) error {
	if holders.Add(1) != 1 {
		overlaps.Add(1)
	}
	defer holders.Add(-1)
	v, err := counter.Do(ctx, "GET", "counter")
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(fmt.Sprint(v))
	_, err = counter.Do(ctx, "SET", "counter", strconv.Itoa(n+1))
	return err
}

// The cases of rounds end to end over the adapter's Nodes: exclusion
// between contenders for one name, paused and stopped nodes, SCRIPT FLUSH,
// and the errors a node reports.
var cases = []testCase{
	{"MutualExclusion", 3, testMutualExclusion, false},
	{"PausedNodeDoesNotSlowRound", 5, testPausedNode, false},
	{"StoppedNodeHonoursDeadline", 1, testNodeDeadline, false},
	{"StoppedNodesTimeOutInRound", 3, testRoundNodeTimeout, false},
	{"ScriptFlush", 3, testScriptFlush, false},
	{"NodeErrorsNameNode", 3, testNodeErrors, false},
	{"WrongTypeIsNodeError", 1, testWrongType, false},
	{"ContextEndedInError", 3, testContextEnded, false},
}

func testMutualExclusion(f *Fixture) {
	const (
		contenders = 8
		rounds     = 5
		name       = "exclusion"
	)
	l := f.Locker(core.WithTTL(5 * time.Second))
	var holders, overlaps atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, contenders)
	for c := range contenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counter := Dial(f.Servers[0].Addr) // a read-modify-write through its own connection
			defer counter.Close()
			m := l.NewMutex(name)
			for range rounds {
				if err := m.Lock(f.Ctx); err != nil {
					errs <- fmt.Errorf("contender %d: lock: %w", c, err)
					return
				}
				if err := increment(f.Ctx, counter, &holders, &overlaps); err != nil {
					errs <- err
					return
				}
				if err := m.Unlock(f.Ctx); err != nil {
					errs <- fmt.Errorf("contender %d: unlock: %w", c, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(f.T, err)
	}
	assert.Zero(f.T, overlaps.Load(), "critical sections overlapped")
	v, err := f.Servers[0].Do("GET", "counter")
	require.NoError(f.T, err)
	assert.Equal(f.T, strconv.Itoa(contenders*rounds), v, "increments lost to overlapping holders")
	f.WaitFree(name)
}

func testPausedNode(f *Fixture) {
	const nodeTimeout = 3 * time.Second
	l := f.Locker(core.WithNodeTimeout(nodeTimeout))
	m := l.NewMutex("paused")
	require.NoError(f.T, m.TryLock(f.Ctx)) // warm every connection
	require.NoError(f.T, m.Unlock(f.Ctx))
	f.Servers[2].Pause()
	defer f.Servers[2].Resume()

	start := time.Now()
	require.NoError(f.T, m.TryLock(f.Ctx))
	require.NoError(f.T, m.Extend(f.Ctx))
	require.NoError(f.T, m.Unlock(f.Ctx))
	assert.Less(f.T, time.Since(start), nodeTimeout/2, "a paused node held up rounds the other four had decided")
}

func testNodeDeadline(f *Fixture) {
	n := f.Nodes[0]
	script := core.Scripts()[0]
	// Use the node once so that a pooled connection exists, then stop the server.
	_, err := n.Eval(f.Ctx, script, []string{core.Key("deadline")}, []string{"x|", "0000000000000001", "1000", "0"})
	require.NoError(f.T, err)
	f.Servers[0].Pause()
	defer f.Servers[0].Resume()
	const deadline = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(f.Ctx, deadline)
	defer cancel()
	start := time.Now()
	_, err = n.Eval(ctx, script, []string{core.Key("deadline")}, []string{"y|", "0000000000000002", "1000", "0"})
	elapsed := time.Since(start)
	assert.Error(f.T, err, "a stopped server answered")
	assert.Less(f.T, elapsed, deadline+time.Second, "Eval outlived its context deadline by far")
}

// testRoundNodeTimeout stops two servers of three under a round whose
// caller cannot cancel: their calls end at the node timeout as timeouts
// (core's node contexts end at their deadline alone, which an adapter may
// enforce with a read deadline, see core.EndsAtDeadline), and the
// connections they timed out on hand no later call their late replies.
func testRoundNodeTimeout(f *Fixture) {
	const (
		nodeTimeout = 300 * time.Millisecond
		name        = "timeout"
	)
	ctx := context.Background() // a caller that cannot cancel
	l := f.Locker(core.WithNodeTimeout(nodeTimeout))
	m := l.NewMutex(name)
	require.NoError(f.T, m.TryLock(ctx)) // warm every connection
	require.NoError(f.T, m.Unlock(ctx))
	f.Servers[1].Pause()
	f.Servers[2].Pause()
	start := time.Now()
	err := m.TryLock(ctx)
	elapsed := time.Since(start)
	f.Servers[1].Resume()
	f.Servers[2].Resume()
	require.ErrorIs(f.T, err, core.ErrNotAcquired)
	assert.ErrorIs(f.T, err, core.ErrNodeTimeout, "the stopped servers' calls did not end as node timeouts")
	assert.GreaterOrEqual(f.T, elapsed, nodeTimeout, "the round ended before the node timeout")
	assert.Less(f.T, elapsed, nodeTimeout+time.Second, "the round outlived the node timeout by far")

	// The resumed servers run the timed-out calls, then their undo.
	f.WaitFree(name)
	for range 5 {
		require.NoError(f.T, m.TryLock(ctx))
		require.NoError(f.T, l.Wait(f.Ctx)) // the calls after the quorum's
		assert.Len(f.T, f.Holders(name), 3, "a round after the timeouts was not granted everywhere")
		require.NoError(f.T, m.Unlock(ctx))
		f.WaitFree(name)
	}
}

func testScriptFlush(f *Fixture) {
	l := f.Locker()
	m := l.NewMutex("flush")
	f.OnAll("SCRIPT", "FLUSH")
	require.NoError(f.T, m.TryLock(f.Ctx))
	f.OnAll("SCRIPT", "FLUSH")
	require.NoError(f.T, m.Extend(f.Ctx))
	f.OnAll("SCRIPT", "FLUSH")
	require.NoError(f.T, m.TryLock(f.Ctx))
	f.OnAll("SCRIPT", "FLUSH")
	require.NoError(f.T, m.Unlock(f.Ctx))
	f.WaitFree("flush")
}

func testNodeErrors(f *Fixture) {
	f.Servers[0].Kill()
	f.Servers[2].Kill()
	l := f.Locker()
	err := l.NewMutex("errors").TryLock(f.Ctx)
	require.ErrorIs(f.T, err, core.ErrNotAcquired)
	var ne *core.NodeError
	require.ErrorAs(f.T, err, &ne)
	assert.Contains(f.T, []string{f.Servers[0].Addr, f.Servers[2].Addr}, ne.Addr)
	assert.Contains(f.T, err.Error(), f.Servers[0].Addr)
	assert.Contains(f.T, err.Error(), f.Servers[2].Addr)
	assert.NotContains(f.T, err.Error(), f.Servers[1].Addr, "the live node is not blamed")
}

func testWrongType(f *Fixture) {
	_, err := f.Servers[0].Do("RPUSH", core.Key("wrongtype"), "x")
	require.NoError(f.T, err)
	err = f.Locker().NewMutex("wrongtype").TryLock(f.Ctx)
	require.ErrorIs(f.T, err, core.ErrNotAcquired)
	var ne *core.NodeError
	require.ErrorAs(f.T, err, &ne)
	assert.Equal(f.T, f.Servers[0].Addr, ne.Addr)
	assert.Contains(f.T, ne.Err.Error(), "WRONGTYPE")
}

func testContextEnded(f *Fixture) {
	l := f.Locker()
	ctx, cancel := context.WithCancel(f.Ctx)
	cancel()
	err := l.NewMutex("ctx").TryLock(ctx)
	require.ErrorIs(f.T, err, core.ErrNotAcquired)
	assert.ErrorIs(f.T, err, context.Canceled)

	require.NoError(f.T, l.NewMutex("ctx").TryLock(f.Ctx))
	ctx, cancel = context.WithTimeout(f.Ctx, 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = l.NewMutex("ctx").Lock(ctx)
	assert.ErrorIs(f.T, err, core.ErrNotAcquired)
	assert.ErrorIs(f.T, err, context.DeadlineExceeded)
	assert.Less(f.T, time.Since(start), 2*time.Second, "Lock outlived its deadline")
}

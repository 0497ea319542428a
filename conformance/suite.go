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

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/granularity"
	"github.com/redlock-go/redlock/retry"
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

// CaseTimeout bounds each case of Run; a case still running then fails the
// whole test binary with a panic that names it.
var CaseTimeout = 30 * time.Second

// Fixture is what each case of the suite gets: fresh servers, a Node for
// each, and a context that ends with the case's time limit.
type Fixture struct {
	T       *testing.T
	Ctx     context.Context
	Servers []*Server
	Nodes   []core.Node

	h Harness
}

func isURLHarness(h Harness) bool { _, ok := h.(URLHarness); return ok }

// fromURL builds a Node through the URLHarness.
func (f *Fixture) fromURL(rawURL string) (core.Node, error) {
	return f.h.(URLHarness).NewNodeFromURL(f.T, rawURL)
}

// Locker returns a Locker over all the fixture's nodes.
func (f *Fixture) Locker(opts ...core.Option) *core.Locker {
	f.T.Helper()
	l, err := core.New(f.Nodes, opts...)
	require.NoError(f.T, err)
	return l
}

// PTTL returns the remaining TTL in milliseconds of the lock called name on
// server i: -2 when the key is missing.
func (f *Fixture) PTTL(i int, name string) int64 {
	f.T.Helper()
	v, err := f.Servers[i].Do("PTTL", core.Key(name))
	if !assert.NoError(f.T, err) {
		return -2
	}
	return v.(int64)
}

// Holders returns the indexes of the servers where the lock called name exists.
func (f *Fixture) Holders(name string) []int {
	f.T.Helper()
	var out []int
	for i, s := range f.Servers {
		if !s.Running() {
			continue
		}
		v, err := s.Do("EXISTS", core.Key(name))
		if !assert.NoError(f.T, err) {
			continue
		}
		if v.(int64) == 1 {
			out = append(out, i)
		}
	}
	return out
}

// WaitFree waits until the lock called name is gone from every running
// server. Operations return once a quorum has answered, so the other nodes'
// writes may land a moment later.
func (f *Fixture) WaitFree(name string) {
	f.T.Helper()
	assert.Eventually(f.T, func() bool { return len(f.Holders(name)) == 0 }, 5*time.Second, 2*time.Millisecond,
		"lock %q left behind on a node", name)
}

// WaitPTTLAbove waits until the lock called name has a PTTL above ms on
// every server.
func (f *Fixture) WaitPTTLAbove(name string, ms int64) {
	f.T.Helper()
	assert.Eventually(f.T, func() bool {
		for i := range f.Servers {
			if f.PTTL(i, name) <= ms {
				return false
			}
		}
		return true
	}, 5*time.Second, 2*time.Millisecond, "PTTL of %q above %dms on every node", name, ms)
}

// OnAll runs an admin command on every running server.
func (f *Fixture) OnAll(args ...string) {
	f.T.Helper()
	for _, s := range f.Servers {
		if s.Running() {
			_, err := s.Do(args...)
			require.NoError(f.T, err)
		}
	}
}

type testCase struct {
	name    string
	servers int
	run     func(f *Fixture)
	urls    bool // needs a URLHarness
}

// Run runs the conformance suite against the adapter that h builds.
func Run(t *testing.T, h Harness) {
	all := slices.Concat(cases, keepAliveCases, fencingCases, waitingCases)
	for _, c := range all {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), CaseTimeout)
			defer cancel()
			limit := time.AfterFunc(CaseTimeout+5*time.Second, func() {
				panic(fmt.Sprintf("conformance: case %s still running after %v", t.Name(), CaseTimeout))
			})
			defer limit.Stop()
			if c.urls && !isURLHarness(h) {
				t.Skip("the Harness has no NewNodeFromURL (URLHarness)")
			}
			f := &Fixture{T: t, Ctx: ctx, Servers: Servers(t, c.servers), h: h}
			for _, s := range f.Servers {
				f.Nodes = append(f.Nodes, h.NewNode(t, s.Addr))
			}
			c.run(f)
		})
	}
}

var cases = []testCase{
	{"MutualExclusion", 3, testMutualExclusion, false},
	{"ExpiryFreesLock", 3, testExpiry, false},
	{"RapidLockUnlock", 5, testRapid, false},
	{"OnlyOwnerUnlocksOrExtends", 3, testOwnership, false},
	{"ExtendMovesPTTL", 3, testExtendMovesPTTL, false},
	{"RefreshBySameOwner", 3, testRefresh, false},
	{"ProcessOwnerSharedAcrossHandles", 3, testProcessOwner, false},
	{"MinorityDownStillLocks", 5, testMinorityDown, false},
	{"MajorityDownRefusesAndCleansUp", 5, testMajorityDown, false},
	{"PausedNodeDoesNotSlowRound", 5, testPausedNode, false},
	{"StoppedNodeHonoursDeadline", 1, testNodeDeadline, false},
	{"ScriptFlush", 3, testScriptFlush, false},
	{"NodeErrorsNameNode", 3, testNodeErrors, false},
	{"RefusalNamesNodes", 3, testRefusalNamesNodes, false},
	{"WrongTypeIsNodeError", 1, testWrongType, false},
	{"ContextEndedInError", 3, testContextEnded, false},
	{"LockGivesUpWithPolicy", 3, testLockPolicy, false},
	{"BadInput", 3, testBadInput, false},
	{"URLNodeConnectsLazily", 3, testURLLazy, true},
	{"URLDatabaseAndPassword", 1, testURLAuth, true},
	{"URLRejectsBadInput", 1, testURLBad, true},
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
				if holders.Add(1) != 1 {
					overlaps.Add(1)
				}
				v, err := counter.Do(f.Ctx, "GET", "counter")
				if err == nil {
					n, _ := strconv.Atoi(fmt.Sprint(v))
					_, err = counter.Do(f.Ctx, "SET", "counter", strconv.Itoa(n+1))
				}
				holders.Add(-1)
				if err != nil {
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

// testRapid takes and releases one lock back to back: the rounds overlap
// on the nodes that answer last, and no late write of one round may undo
// the next.
func testRapid(f *Fixture) {
	m := f.Locker().NewMutex("rapid")
	for i := range 300 {
		require.NoError(f.T, m.TryLock(f.Ctx), "TryLock %d", i)
		require.NoError(f.T, m.Unlock(f.Ctx), "Unlock %d", i)
	}
	f.WaitFree("rapid")
}

func testExpiry(f *Fixture) {
	const ttl = 300 * time.Millisecond
	l := f.Locker(core.WithTTL(ttl), core.WithNodeTimeout(100*time.Millisecond))
	holder, other := l.NewMutex("expiry"), l.NewMutex("expiry")
	require.NoError(f.T, holder.TryLock(f.Ctx))
	until := holder.Until()
	assert.True(f.T, until.After(time.Now()), "Until is in the future")
	assert.False(f.T, until.After(time.Now().Add(ttl)), "Until is within one TTL")
	holders := f.Holders("expiry")
	assert.GreaterOrEqual(f.T, len(holders), 2, "held on a quorum")
	for _, i := range holders {
		p := f.PTTL(i, "expiry")
		assert.True(f.T, p > 0 && p <= ttl.Milliseconds(), "PTTL %d on node %d", p, i)
	}
	require.ErrorIs(f.T, other.TryLock(f.Ctx), core.ErrNotAcquired)
	require.NoError(f.T, other.Lock(f.Ctx), "the lock frees itself after its TTL")
	assert.False(f.T, time.Now().Before(until), "another owner got the lock before the holder's validity ended")
	require.NoError(f.T, other.Unlock(f.Ctx))
}

func testOwnership(f *Fixture) {
	l := f.Locker()
	owner, other := l.NewMutex("owned"), l.NewMutex("owned")
	require.NoError(f.T, owner.TryLock(f.Ctx))
	assert.ErrorIs(f.T, other.Unlock(f.Ctx), core.ErrNotHeld)
	assert.ErrorIs(f.T, other.Extend(f.Ctx), core.ErrNotHeld)
	assert.GreaterOrEqual(f.T, len(f.Holders("owned")), 2, "another owner's Unlock removed the lock")
	assert.ErrorIs(f.T, other.TryLock(f.Ctx), core.ErrNotAcquired)
	require.NoError(f.T, owner.Unlock(f.Ctx))
	f.WaitFree("owned")
	assert.True(f.T, owner.Until().IsZero(), "Until after Unlock")
	assert.ErrorIs(f.T, owner.Unlock(f.Ctx), core.ErrNotHeld, "second Unlock")
	assert.ErrorIs(f.T, owner.Extend(f.Ctx), core.ErrNotHeld, "Extend after Unlock")
}

// shorten makes the lock's keys look old: PTTL 1000ms on every server.
func (f *Fixture) shorten(name string) {
	f.T.Helper()
	f.OnAll("PEXPIRE", core.Key(name), "1000")
}

func testExtendMovesPTTL(f *Fixture) {
	l := f.Locker(core.WithTTL(30 * time.Second))
	m := l.NewMutex("extend")
	require.NoError(f.T, m.TryLock(f.Ctx))
	f.shorten("extend")
	start := time.Now()
	require.NoError(f.T, m.Extend(f.Ctx))
	f.WaitPTTLAbove("extend", 20000)
	assert.True(f.T, m.Until().After(start.Add(29*time.Second)), "Until is a TTL (less elapsed time and drift) after the Extend")

	// Extend never re-creates a lapsed lock.
	f.OnAll("DEL", core.Key("extend"))
	assert.ErrorIs(f.T, m.Extend(f.Ctx), core.ErrNotHeld)
	assert.Empty(f.T, f.Holders("extend"), "Extend re-created the lock")
}

func testRefresh(f *Fixture) {
	l := f.Locker(core.WithTTL(30 * time.Second))
	m := l.NewMutex("refresh")
	require.NoError(f.T, m.TryLock(f.Ctx))
	f.shorten("refresh")
	require.NoError(f.T, m.TryLock(f.Ctx), "the holder acquires again")
	f.WaitPTTLAbove("refresh", 20000)
	require.ErrorIs(f.T, l.NewMutex("refresh").TryLock(f.Ctx), core.ErrNotAcquired, "another handle is another owner")

	strict := l.NewMutex("strict", core.WithRefresh(false))
	require.NoError(f.T, strict.TryLock(f.Ctx))
	assert.ErrorIs(f.T, strict.TryLock(f.Ctx), core.ErrNotAcquired, "refresh off: the holder is refused")
	require.NoError(f.T, strict.Unlock(f.Ctx), "a refused refresh leaves the lock held")
	require.NoError(f.T, m.Unlock(f.Ctx))
}

func testProcessOwner(f *Fixture) {
	l := f.Locker(core.WithOwner(granularity.Process()))
	a, b := l.NewMutex("process"), l.NewMutex("process")
	require.NoError(f.T, a.TryLock(f.Ctx))
	require.NoError(f.T, b.TryLock(f.Ctx), "a second handle of the same process refreshes")
	require.ErrorIs(f.T, l.NewMutex("process", core.WithOwner(granularity.Handle())).TryLock(f.Ctx), core.ErrNotAcquired)
	require.NoError(f.T, b.Unlock(f.Ctx), "any handle of the process releases")
	f.WaitFree("process")
}

func testMinorityDown(f *Fixture) {
	f.Servers[1].Kill()
	f.Servers[3].Kill()
	l := f.Locker()
	m := l.NewMutex("minority")
	require.NoError(f.T, m.TryLock(f.Ctx))
	assert.Eventually(f.T, func() bool { return slices.Equal([]int{0, 2, 4}, f.Holders("minority")) },
		5*time.Second, 2*time.Millisecond, "held on every live node")
	require.NoError(f.T, m.Extend(f.Ctx))
	require.NoError(f.T, m.Unlock(f.Ctx))
	f.WaitFree("minority")
}

func testMajorityDown(f *Fixture) {
	for _, i := range []int{0, 2, 3} {
		f.Servers[i].Kill()
	}
	l := f.Locker()
	m := l.NewMutex("majority")
	err := m.TryLock(f.Ctx)
	require.ErrorIs(f.T, err, core.ErrNotAcquired)
	assert.True(f.T, m.Until().IsZero())
	f.WaitFree("majority")
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

func testRefusalNamesNodes(f *Fixture) {
	l := f.Locker()
	require.NoError(f.T, l.NewMutex("refusal").TryLock(f.Ctx))
	err := l.NewMutex("refusal").TryLock(f.Ctx)
	require.ErrorIs(f.T, err, core.ErrNotAcquired)
	require.ErrorIs(f.T, err, core.ErrHeldByOther)
	addrs := nodeErrorAddrs(err)
	assert.GreaterOrEqual(f.T, len(addrs), 2, "a quorum of refusals is reported")
	for _, a := range addrs {
		assert.True(f.T, slices.ContainsFunc(f.Servers, func(s *Server) bool { return s.Addr == a }), "unknown node %s", a)
	}
}

// nodeErrorAddrs lists the addresses of every NodeError in err's tree.
func nodeErrorAddrs(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if ne, ok := err.(*core.NodeError); ok {
			out = append(out, ne.Addr)
			return
		}
		switch e := err.(type) {
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
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

func testLockPolicy(f *Fixture) {
	l := f.Locker()
	require.NoError(f.T, l.NewMutex("policy").TryLock(f.Ctx))
	tries := 0
	counting := core.WithRetry(func() backoff.BackOff {
		return &countingBackOff{n: &tries, max: 3}
	})
	err := l.NewMutex("policy", counting).Lock(f.Ctx)
	require.ErrorIs(f.T, err, core.ErrNotAcquired)
	assert.ErrorIs(f.T, err, core.ErrHeldByOther, "the last round's story")
	assert.Equal(f.T, 4, tries, "three retries after the first round, then Stop")
	err = l.NewMutex("policy", core.WithRetry(retry.Never())).Lock(f.Ctx)
	assert.ErrorIs(f.T, err, core.ErrNotAcquired)
}

func testBadInput(f *Fixture) {
	_, err := core.New(nil)
	assert.ErrorContains(f.T, err, "no nodes")
	_, err = core.New([]core.Node{f.Nodes[0], nil})
	assert.ErrorContains(f.T, err, "nil")
	_, err = core.New([]core.Node{f.Nodes[0], f.Nodes[1], f.Nodes[0]})
	assert.ErrorContains(f.T, err, "same node")
	for _, opt := range []core.Option{
		core.WithTTL(0), core.WithTTL(-time.Second), core.WithDriftFactor(1), core.WithDriftFactor(-0.1),
		core.WithNodeTimeout(0), core.WithNodeTimeout(time.Minute), core.WithRetry(nil), core.WithOwner(nil),
	} {
		_, err = core.New(f.Nodes, opt)
		assert.Error(f.T, err)
		m := f.Locker().NewMutex("bad", opt)
		assert.Error(f.T, m.TryLock(f.Ctx))
		assert.NotErrorIs(f.T, m.TryLock(f.Ctx), core.ErrNotAcquired, "a bad option is not contention")
	}
	m := f.Locker().NewMutex("")
	assert.ErrorContains(f.T, m.Lock(f.Ctx), "empty lock name")
	assert.Empty(f.T, f.Holders(""))
}

func testURLLazy(f *Fixture) {
	f.Servers[0].Kill()
	nodes := make([]core.Node, len(f.Servers))
	for i, s := range f.Servers {
		n, err := f.fromURL("redis://" + s.Addr + "/0")
		require.NoError(f.T, err, "a Node is built while its server is down")
		nodes[i] = n
	}
	l, err := core.New(nodes)
	require.NoError(f.T, err)
	m := l.NewMutex("lazy")
	require.NoError(f.T, m.TryLock(f.Ctx), "two of three nodes are up")
	require.NoError(f.T, m.Unlock(f.Ctx))

	// The dead node comes back; its Node reconnects and counts again.
	require.NoError(f.T, f.Servers[0].Restart())
	f.Servers[1].Kill()
	// Clients may wait a moment before they dial a failed address again.
	require.NoError(f.T, m.Lock(f.Ctx), "the restarted node is used again")
	assert.Eventually(f.T, func() bool { return slices.Contains(f.Holders("lazy"), 0) }, 5*time.Second, 2*time.Millisecond)
	require.NoError(f.T, m.Unlock(f.Ctx))
}

func testURLAuth(f *Fixture) {
	s := f.Servers[0]
	// The admin connection stays authenticated after the password is set.
	_, err := s.Do("CONFIG", "SET", "requirepass", "s3cret")
	require.NoError(f.T, err)

	good, err := f.fromURL("redis://:s3cret@" + s.Addr + "/3")
	require.NoError(f.T, err)
	l, err := core.New([]core.Node{good})
	require.NoError(f.T, err)
	require.NoError(f.T, l.NewMutex("db3").TryLock(f.Ctx))
	_, err = s.Do("SELECT", "3")
	require.NoError(f.T, err)
	v, err := s.Do("EXISTS", core.Key("db3"))
	require.NoError(f.T, err)
	assert.Equal(f.T, int64(1), v, "the lock lives in the URL's database")
	_, err = s.Do("SELECT", "0")
	require.NoError(f.T, err)

	bad, err := f.fromURL("redis://:wrong@" + s.Addr + "/0")
	require.NoError(f.T, err)
	l, err = core.New([]core.Node{bad})
	require.NoError(f.T, err)
	err = l.NewMutex("auth").TryLock(f.Ctx)
	require.ErrorIs(f.T, err, core.ErrNotAcquired)
	var ne *core.NodeError
	require.ErrorAs(f.T, err, &ne, "an authentication failure is a node error")
	assert.Equal(f.T, bad.Addr(), ne.Addr)
}

func testURLBad(f *Fixture) {
	for _, raw := range []string{"http://" + f.Servers[0].Addr, "redis://" + f.Servers[0].Addr + "/notadb", "::not a url"} {
		_, err := f.fromURL(raw)
		assert.Error(f.T, err, "URL %q", raw)
	}
	n, err := f.fromURL("")
	require.NoError(f.T, err, "the empty URL means redis://127.0.0.1:6379/0")
	assert.Contains(f.T, n.Addr(), "127.0.0.1:6379")
}

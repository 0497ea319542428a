package core_test

import (
	"slices"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/granularity"
	"github.com/redlock-go/redlock/retry"
)

// A lock lives one TTL on a quorum and frees itself then; no other owner
// gets it before the holder's validity ends.
func TestExpiryFreesLock(t *testing.T) {
	f := newFixture(t, 3)
	const ttl = 300 * time.Millisecond
	l := f.Locker(core.WithTTL(ttl), core.WithNodeTimeout(100*time.Millisecond))
	holder, other := l.NewMutex("expiry"), l.NewMutex("expiry")
	require.NoError(t, holder.TryLock(f.Ctx))
	until := holder.Until()
	assert.True(t, until.After(time.Now()), "Until is in the future")
	assert.False(t, until.After(time.Now().Add(ttl)), "Until is within one TTL")
	holders := f.Holders("expiry")
	assert.GreaterOrEqual(t, len(holders), 2, "held on a quorum")
	for _, i := range holders {
		p := f.PTTL(i, "expiry")
		assert.True(t, p > 0 && p <= ttl.Milliseconds(), "PTTL %d on node %d", p, i)
	}
	require.ErrorIs(t, other.TryLock(f.Ctx), core.ErrNotAcquired)
	require.NoError(t, other.Lock(f.Ctx), "the lock frees itself after its TTL")
	assert.False(t, time.Now().Before(until), "another owner got the lock before the holder's validity ended")
	require.NoError(t, other.Unlock(f.Ctx))
}

// One Mutex takes and releases one lock back to back: the rounds overlap
// on the nodes that answer last, and no late write of one round may undo
// the next.
func TestRapidLockUnlock(t *testing.T) {
	f := newFixture(t, 5)
	m := f.Locker().NewMutex("rapid")
	for i := range 300 {
		require.NoError(t, m.TryLock(f.Ctx), "TryLock %d", i)
		require.NoError(t, m.Unlock(f.Ctx), "Unlock %d", i)
	}
	f.WaitFree("rapid")
}

// Only the owner releases or extends a lock; after Unlock the Mutex holds
// nothing.
func TestOnlyOwnerUnlocksOrExtends(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker()
	owner, other := l.NewMutex("owned"), l.NewMutex("owned")
	require.NoError(t, owner.TryLock(f.Ctx))
	assert.ErrorIs(t, other.Unlock(f.Ctx), core.ErrNotHeld)
	assert.ErrorIs(t, other.Extend(f.Ctx), core.ErrNotHeld)
	assert.GreaterOrEqual(t, len(f.Holders("owned")), 2, "another owner's Unlock removed the lock")
	assert.ErrorIs(t, other.TryLock(f.Ctx), core.ErrNotAcquired)
	require.NoError(t, owner.Unlock(f.Ctx))
	f.WaitFree("owned")
	assert.True(t, owner.Until().IsZero(), "Until after Unlock")
	assert.ErrorIs(t, owner.Unlock(f.Ctx), core.ErrNotHeld, "second Unlock")
	assert.ErrorIs(t, owner.Extend(f.Ctx), core.ErrNotHeld, "Extend after Unlock")
}

// Extend resets the TTL on every node and moves Until; it never re-creates
// a lock that has lapsed.
func TestExtendMovesPTTL(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithTTL(30 * time.Second))
	m := l.NewMutex("extend")
	require.NoError(t, m.TryLock(f.Ctx))
	f.shorten("extend")
	start := time.Now()
	require.NoError(t, m.Extend(f.Ctx))
	f.WaitPTTLAbove("extend", 20000)
	assert.True(t, m.Until().After(start.Add(29*time.Second)), "Until is a TTL (less elapsed time and drift) after the Extend")

	// Extend never re-creates a lapsed lock.
	f.OnAll("DEL", core.Key("extend"))
	assert.ErrorIs(t, m.Extend(f.Ctx), core.ErrNotHeld)
	assert.Empty(t, f.Holders("extend"), "Extend re-created the lock")
}

// The holder's Mutex acquires its own lock again (a refresh), unless
// WithRefresh(false); another handle is another owner.
func TestRefreshBySameOwner(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithTTL(30 * time.Second))
	m := l.NewMutex("refresh")
	require.NoError(t, m.TryLock(f.Ctx))
	f.shorten("refresh")
	require.NoError(t, m.TryLock(f.Ctx), "the holder acquires again")
	f.WaitPTTLAbove("refresh", 20000)
	require.ErrorIs(t, l.NewMutex("refresh").TryLock(f.Ctx), core.ErrNotAcquired, "another handle is another owner")

	strict := l.NewMutex("strict", core.WithRefresh(false))
	require.NoError(t, strict.TryLock(f.Ctx))
	assert.ErrorIs(t, strict.TryLock(f.Ctx), core.ErrNotAcquired, "refresh off: the holder is refused")
	require.NoError(t, strict.Unlock(f.Ctx), "a refused refresh leaves the lock held")
	require.NoError(t, m.Unlock(f.Ctx))
}

// With the Process owner every handle of the process is one owner; a
// Handle owner is another.
func TestProcessOwnerSharedAcrossHandles(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithOwner(granularity.Process()))
	a, b := l.NewMutex("process"), l.NewMutex("process")
	require.NoError(t, a.TryLock(f.Ctx))
	require.NoError(t, b.TryLock(f.Ctx), "a second handle of the same process refreshes")
	require.ErrorIs(t, l.NewMutex("process", core.WithOwner(granularity.Handle())).TryLock(f.Ctx), core.ErrNotAcquired)
	require.NoError(t, b.Unlock(f.Ctx), "any handle of the process releases")
	f.WaitFree("process")
}

// With the Task owner the task in the context is the owner, whatever the
// handle; with the Host owner, every handle of the machine is one.
func TestTaskOwners(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithOwner(granularity.Task()))
	a := granularity.WithTask(f.Ctx, "a")
	b := granularity.WithTask(f.Ctx, "b")
	m1, m2 := l.NewMutex("task"), l.NewMutex("task")
	require.NoError(t, m1.TryLock(a))
	assert.ErrorIs(t, m2.TryLock(b), core.ErrNotAcquired, "another task is refused")
	assert.ErrorIs(t, m2.Unlock(b), core.ErrNotHeld, "another task cannot release")
	f.shorten("task")
	require.NoError(t, m2.TryLock(a), "the same task on another handle refreshes")
	assert.ErrorIs(t, m1.TryLock(f.Ctx), granularity.ErrNoTask)
	// Let m2's refresh land everywhere: a refresh still in flight on a slow
	// node can land after m1's release there, and lives until its TTL.
	f.WaitPTTLAbove("task", 2000)
	require.NoError(t, m1.Unlock(a))
	f.WaitFree("task")

	// Host: all handles of the machine are one owner.
	h := f.Locker(core.WithOwner(granularity.Host()))
	require.NoError(t, h.NewMutex("host").TryLock(f.Ctx))
	require.NoError(t, h.NewMutex("host").TryLock(f.Ctx))
	assert.ErrorIs(t, l.NewMutex("host", core.WithOwner(granularity.Process())).TryLock(f.Ctx), core.ErrNotAcquired)
}

// Two of five nodes down: a quorum remains, and lock, extend and unlock
// work on the live nodes.
func TestMinorityDownStillLocks(t *testing.T) {
	f := newFixture(t, 5)
	f.Servers[1].Kill()
	f.Servers[3].Kill()
	l := f.Locker()
	m := l.NewMutex("minority")
	require.NoError(t, m.TryLock(f.Ctx))
	assert.Eventually(t, func() bool { return slices.Equal([]int{0, 2, 4}, f.Holders("minority")) },
		5*time.Second, 2*time.Millisecond, "held on every live node")
	require.NoError(t, m.Extend(f.Ctx))
	require.NoError(t, m.Unlock(f.Ctx))
	f.WaitFree("minority")
}

// Three of five nodes down: the lock is refused and the live nodes' writes
// are undone.
func TestMajorityDownRefusesAndCleansUp(t *testing.T) {
	f := newFixture(t, 5)
	for _, i := range []int{0, 2, 3} {
		f.Servers[i].Kill()
	}
	l := f.Locker()
	m := l.NewMutex("majority")
	err := m.TryLock(f.Ctx)
	require.ErrorIs(t, err, core.ErrNotAcquired)
	assert.True(t, m.Until().IsZero())
	f.WaitFree("majority")
}

// A refusal says the lock is held by another owner and names the nodes
// that refused.
func TestRefusalNamesNodes(t *testing.T) {
	f := newFixture(t, 3)
	require.NoError(t, f.Locker().NewMutex("refusal").TryLock(f.Ctx)) // another process's holder: the nodes refuse
	err := f.Locker().NewMutex("refusal").TryLock(f.Ctx)
	require.ErrorIs(t, err, core.ErrNotAcquired)
	require.ErrorIs(t, err, core.ErrHeldByOther)
	addrs := nodeErrorAddrs(err)
	assert.GreaterOrEqual(t, len(addrs), 2, "a quorum of refusals is reported")
	for _, a := range addrs {
		assert.True(t, slices.ContainsFunc(f.Servers, func(s *conformance.Server) bool { return s.Addr == a }), "unknown node %s", a)
	}
}

// Lock retries as its policy says and stops when the policy does.
func TestLockGivesUpWithPolicy(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker()
	require.NoError(t, l.NewMutex("policy").TryLock(f.Ctx))
	tries := 0
	counting := core.WithRetry(func() backoff.BackOff {
		return &countingBackOff{n: &tries, max: 3}
	})
	err := l.NewMutex("policy", counting).Lock(f.Ctx)
	require.ErrorIs(t, err, core.ErrNotAcquired)
	assert.ErrorIs(t, err, core.ErrHeldByOther, "the last round's story")
	assert.Equal(t, 4, tries, "three retries after the first round, then Stop")
	err = l.NewMutex("policy", core.WithRetry(retry.Never())).Lock(f.Ctx)
	assert.ErrorIs(t, err, core.ErrNotAcquired)
}

// New and NewMutex refuse bad nodes, options and names with errors that
// are not contention.
func TestBadInput(t *testing.T) {
	f := newFixture(t, 3)
	_, err := core.New(nil)
	assert.ErrorContains(t, err, "no nodes")
	_, err = core.New([]core.Node{f.Nodes[0], nil})
	assert.ErrorContains(t, err, "nil")
	_, err = core.New([]core.Node{f.Nodes[0], f.Nodes[1], f.Nodes[0]})
	assert.ErrorContains(t, err, "same node")
	for _, opt := range []core.Option{
		core.WithTTL(0), core.WithTTL(-time.Second), core.WithDriftFactor(1), core.WithDriftFactor(-0.1),
		core.WithNodeTimeout(0), core.WithNodeTimeout(time.Minute), core.WithRetry(nil), core.WithOwner(nil),
	} {
		_, err = core.New(f.Nodes, opt)
		assert.Error(t, err)
		m := f.Locker().NewMutex("bad", opt)
		assert.Error(t, m.TryLock(f.Ctx))
		assert.NotErrorIs(t, m.TryLock(f.Ctx), core.ErrNotAcquired, "a bad option is not contention")
	}
	m := f.Locker().NewMutex("")
	assert.ErrorContains(t, m.Lock(f.Ctx), "empty lock name")
	assert.Empty(t, f.Holders(""))
	// A name that begins with "}" leaves its keys without a hash tag: on a
	// cluster, its lock and fence keys would be in different slots.
	m = f.Locker().NewMutex("}job")
	assert.ErrorContains(t, m.Lock(f.Ctx), `may not begin with "}"`)
	assert.NotErrorIs(t, m.TryLock(f.Ctx), core.ErrNotAcquired, "a bad name is not contention")
	assert.Empty(t, f.Holders("}job"))
	m = f.Locker().NewMutex("job}{x")
	require.NoError(t, m.TryLock(f.Ctx), "a name with braces inside has the tag \"job\"")
	require.NoError(t, m.Unlock(f.Ctx))
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

// A command that the nodes reject is not contention: Lock stops at the
// first round in which too many nodes rejected it, with an error that
// names them and wraps ErrNodeRejected; one node's rejection is a failed
// node like any other. (Here the lock's key holds a list on two of three
// nodes, so the scripts get WRONGTYPE; NOPERM and CROSSSLOT read the same.)
func TestRejectedCommandIsNotRetried(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithRetry(retry.Constant(time.Millisecond, 1000)))
	_, err := f.Servers[0].Do("RPUSH", core.Key("wrong-type"), "x")
	require.NoError(t, err)

	m := l.NewMutex("wrong-type")
	require.NoError(t, m.Lock(f.Ctx), "one rejecting node leaves a quorum")
	require.NoError(t, m.Unlock(f.Ctx))

	_, err = f.Servers[1].Do("RPUSH", core.Key("wrong-type"), "x")
	require.NoError(t, err)
	before := f.faulty[2].Calls("acquire")
	err = m.Lock(f.Ctx)
	require.ErrorIs(t, err, core.ErrNotAcquired)
	require.ErrorIs(t, err, core.ErrNodeRejected)
	assert.Contains(t, err.Error(), "WRONGTYPE")
	var ne *core.NodeError
	require.ErrorAs(t, err, &ne)
	assert.Contains(t, []string{f.Nodes[0].Addr(), f.Nodes[1].Addr()}, ne.Addr)
	assert.Equal(t, 1, f.faulty[2].Calls("acquire")-before, "Lock asked again after two of three nodes rejected the command")
	assert.NoError(t, f.Ctx.Err())

	held := l.NewMutex("held-elsewhere")
	require.NoError(t, f.Locker().NewMutex("held-elsewhere").TryLock(f.Ctx))
	err = held.TryLock(f.Ctx)
	require.ErrorIs(t, err, core.ErrNotAcquired)
	assert.NotErrorIs(t, err, core.ErrNodeRejected, "contention read as a rejected command")
	f.settle(l)
}

// acquires counts the acquire calls that reached f's nodes.
func (f *fixture) acquires() int {
	n := 0
	for _, fn := range f.faulty {
		n += fn.Calls("acquire")
	}
	return n
}

// A TryLock while another owner's Mutex of the same Locker holds the lock
// fails at once, without a round: the holder's validity proves the nodes
// would refuse. The owner's own handles still refresh, and once the
// holding ends (Unlock, a break, its validity passing) TryLock makes its
// round again.
func TestTryLockHeldHere(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithTTL(time.Second))
	holder := l.NewMutex("held-here")
	require.NoError(t, holder.TryLock(f.Ctx))
	f.settle(l)

	before := f.acquires()
	err := l.NewMutex("held-here").TryLock(f.Ctx)
	require.ErrorIs(t, err, core.ErrNotAcquired)
	require.ErrorIs(t, err, core.ErrHeldByOther)
	assert.Empty(t, nodeErrorAddrs(err), "no node was asked")
	assert.Equal(t, before, f.acquires(), "no round was made")

	require.NoError(t, holder.Unlock(f.Ctx))
	next := l.NewMutex("held-here")
	require.NoError(t, next.TryLock(f.Ctx), "free at once after Unlock")

	_, err = l.Break(f.Ctx, "held-here", "")
	require.NoError(t, err)
	require.NoError(t, l.NewMutex("held-here").TryLock(f.Ctx), "the broken holding turns no one away")

	shared := conformance.FixedOwner("one-job")
	require.NoError(t, l.NewMutex("held-shared", shared).TryLock(f.Ctx))
	before = f.acquires()
	require.NoError(t, l.NewMutex("held-shared", shared).TryLock(f.Ctx), "the owner's other handle refreshes")
	assert.Greater(t, f.acquires(), before, "with a round")

	lapsed := l.NewMutex("held-lapsed")
	require.NoError(t, lapsed.TryLock(f.Ctx))
	require.Eventually(t, func() bool { return lapsed.Until().IsZero() }, 5*time.Second, 5*time.Millisecond)
	before = f.acquires()
	_ = l.NewMutex("held-lapsed").TryLock(f.Ctx)
	assert.Greater(t, f.acquires(), before, "a holding whose validity passed turns no one away")
}

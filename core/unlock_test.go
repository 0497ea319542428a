package core_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/internal/testnode"
)

// Unlock's arithmetic, N = 5: the lock was granted on A, B and C (D and E
// are held by someone else's leftovers); at Unlock, A's connection breaks
// before the release runs, and again for every repeat; B and C release. No quorum can still be ours:
// the lock is released and Unlock returns nil.
func TestUnlockWhenNoQuorumCanBeOurs(t *testing.T) {
	f := newFixture(t, 5)
	for _, i := range []int{3, 4} {
		_, err := f.Servers[i].Do("SET", core.Key("counted"), "someone else's leftover", "PX", "60000")
		require.NoError(t, err)
	}
	l := f.Locker()
	m := l.NewMutex("counted")
	require.NoError(t, m.TryLock(f.Ctx))
	f.faulty[0].On("release", -1, testnode.Lose(io.EOF)) // and every repeat after the broken connection
	assert.NoError(t, m.Unlock(f.Ctx), "two released, two never ours, one unknown")
	f.settle(l)
	f.faulty[0].Reset()
	assert.Equal(t, []int{0, 3, 4}, f.Holders("counted"))
}

// An Unlock that returned nil leaves an idle lock free at once: a new
// handle's TryLock right after it is granted, every time. (A round decides
// at the first quorum; its last node's acquire, still on its way, used to
// be released only once it landed, after Unlock returned: two such nodes
// of consecutive rounds refused the next handle.)
func TestLockFreeRightAfterUnlock(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker()
	for i := range 2000 {
		m := l.NewMutex("free-after-unlock")
		require.NoError(t, m.TryLock(f.Ctx), "cycle %d", i)
		require.NoError(t, m.Unlock(f.Ctx), "cycle %d", i)
	}
}

// An Unlock that returned nil leaves the lock free at the gate too, where
// another process's gated round asks alone. L1 holds; L2 met it, so its
// rounds are gated. L1's release reaches the gate late: the request is
// held until L2 has tried, or until the node timeout ends the call (then it
// runs, and its reply is lost). Unlock must not return before the gate's
// answer, so L2's gated TryLock right after it finds the gate free. (Unlock
// used to return at the first quorum: the gate, still held, refused L2.)
func TestUnlockFreesTheGate(t *testing.T) {
	f := newFixture(t, 3)
	l1 := f.Locker(core.WithNodeTimeout(time.Second))
	l2 := f.Locker()
	holder := l1.NewMutex("gate-free")
	require.NoError(t, holder.TryLock(f.Ctx))
	require.Eventually(t, func() bool { return len(f.Holders("gate-free")) == 3 }, 5*time.Second, 2*time.Millisecond)
	gate := f.gate(l2, "gate-free")

	tried := make(chan struct{})
	f.faulty[gate].On("release", 1, func(ctx context.Context, _ testnode.Call, run func(context.Context) (any, error)) (any, error) {
		select {
		case <-tried:
			return run(ctx)
		case <-ctx.Done():
			_, _ = run(context.WithoutCancel(ctx))
			return nil, ctx.Err()
		}
	})
	require.NoError(t, holder.Unlock(f.Ctx))
	err := l2.NewMutex("gate-free").TryLock(f.Ctx)
	close(tried)
	require.NoError(t, err, "the gate still held the lock that Unlock released")
	f.settle(l1)
}

// The gate's acquire still on its way when Unlock begins (the round was
// decided by the other two nodes) lands before Unlock releases, and is
// released with the others. It used to count as late: released only once
// it landed, after Unlock had returned, so that in between another
// process's gated round found the gate held. Here the other two nodes'
// replies are held 30ms (so that the round takes that long to decide) and
// the gate's acquire reaches its server 100ms after the TryLock began:
// after Unlock's settle, within its wait for the gate. The gate's release
// is held until the other Locker has tried (or the node timeout ends the
// call, which then runs).
func TestUnlockWaitsForTheGatesAcquire(t *testing.T) {
	f := newFixture(t, 3)
	l1 := f.Locker(core.WithNodeTimeout(time.Second))
	holder := l1.NewMutex("gate-late")
	require.NoError(t, holder.TryLock(f.Ctx))
	require.Eventually(t, func() bool { return len(f.Holders("gate-late")) == 3 }, 5*time.Second, 2*time.Millisecond)
	l2 := f.Locker()
	gate := f.gate(l2, "gate-late")
	require.NoError(t, holder.Unlock(f.Ctx))
	f.settle(l1)

	decide, landing, landed, tried := make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{})
	for i := range f.faulty {
		if i != gate {
			f.faulty[i].On("acquire", 1, testnode.RunThenHold(decide))
		}
	}
	f.faulty[gate].On("acquire", 1, func(ctx context.Context, c testnode.Call, run func(context.Context) (any, error)) (any, error) {
		defer close(landed)
		return testnode.HoldThenRun(landing)(ctx, c, run)
	})
	f.faulty[gate].On("release", 1, func(ctx context.Context, _ testnode.Call, run func(context.Context) (any, error)) (any, error) {
		select {
		case <-tried:
			return run(ctx)
		case <-ctx.Done():
			_, _ = run(context.WithoutCancel(ctx))
			return nil, ctx.Err()
		}
	})
	time.AfterFunc(30*time.Millisecond, func() { close(decide) })
	time.AfterFunc(100*time.Millisecond, func() { close(landing) })
	require.NoError(t, holder.TryLock(f.Ctx), "two nodes of three grant")
	require.NoError(t, holder.Unlock(f.Ctx))
	f.await(landed, "the gate's acquire never landed")
	err := l2.NewMutex("gate-late").TryLock(f.Ctx)
	close(tried)
	require.NoError(t, err, "the gate held the lock that Unlock released")
	f.settle(l1)
	f.settle(l2)
}

// A gate whose acquire hangs costs Unlock a short wait, not a node timeout,
// and is then treated as failed: the next Unlock does not wait for it.
func TestUnlockDoesNotWaitOutAHungGate(t *testing.T) {
	const nodeTimeout = 3 * time.Second
	f := newFixture(t, 3)
	l := f.Locker(core.WithNodeTimeout(nodeTimeout))
	m := l.NewMutex("gate-hung")
	ol := f.Locker()
	other := ol.NewMutex("gate-hung")
	require.NoError(t, other.TryLock(f.Ctx))
	f.settle(ol)                            // held on every node: the gate refuses
	gate := f.gate(f.Locker(), "gate-hung") // the same node for every Locker
	require.NoError(t, other.Unlock(f.Ctx))
	f.settle(ol) // its last release may still be on its way
	hung := make(chan struct{})
	defer close(hung)
	f.faulty[gate].On("acquire", 2, testnode.HoldThenRun(hung))
	for i := range 2 {
		require.NoError(t, m.TryLock(f.Ctx), "two nodes of three grant")
		start := time.Now()
		require.NoError(t, m.Unlock(f.Ctx))
		assert.Less(t, time.Since(start), nodeTimeout/3, "Unlock %d waited out the hung gate", i+1)
	}
}

// A release that fails without running (lost on the way) is asked again in
// the background: after Unlock and Wait, no key of the lock is left on the
// node, which would otherwise turn contenders away from it until the TTL.
func TestUnlockRetriesAFailedRelease(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithNodeTimeout(100 * time.Millisecond))
	m := l.NewMutex("lost-release")
	require.NoError(t, m.TryLock(f.Ctx))
	f.settle(l)
	require.Len(t, f.Holders("lost-release"), 3)
	f.faulty[2].On("release", 1, testnode.Lose(nil))
	require.NoError(t, m.Unlock(f.Ctx), "two nodes of three released")
	f.settle(l)
	assert.Empty(t, f.Holders("lost-release"), "a key left behind after Unlock and Wait")
	assert.Equal(t, 2, f.faulty[2].Calls("release"), "the release was asked again")
}

// An acquire whose reply failed may still run after the release that
// Unlock sent once it landed: that release, having found nothing, is asked
// again later, so that the key the acquire then writes does not stay
// behind. Here node 2's acquire is held past the node timeout, and reaches
// its server only once the late release has run there.
func TestLateReleaseOvertakenByItsAcquire(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithNodeTimeout(100 * time.Millisecond))
	m := l.NewMutex("overtaken")
	landing, released := make(chan struct{}), make(chan struct{})
	f.faulty[2].On("acquire", 1, testnode.HoldThenRun(landing))
	f.faulty[2].On("release", 1, testnode.Signal(released))
	require.NoError(t, m.TryLock(f.Ctx), "nodes 0 and 1 grant")
	require.NoError(t, m.Unlock(f.Ctx))
	f.await(released, "the late release never ran")
	close(landing)
	f.settle(l)
	assert.Empty(t, f.Holders("overtaken"), "the acquire that overtook its release left its key")
}

// An acquire whose reply failed, and that reaches its server only after
// the release Unlock sent there has run and found nothing, does not leave
// its key behind: the release, unsure of that node, is asked again. Here
// node 2's acquire is held past the node timeout, its failure has landed
// before Unlock, and it runs once Unlock has returned.
func TestReleaseOvertakenByAFailedAcquire(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithNodeTimeout(100 * time.Millisecond))
	m := l.NewMutex("overtaken-failed")
	landing := make(chan struct{})
	f.faulty[2].On("acquire", 1, testnode.HoldThenRun(landing))
	require.NoError(t, m.TryLock(f.Ctx), "nodes 0 and 1 grant")
	f.settle(l) // node 2's acquire has failed and landed
	require.NoError(t, m.Unlock(f.Ctx))
	require.Equal(t, 1, f.faulty[2].Calls("release"), "the release ran on node 2 before the acquire")
	close(landing)
	f.settle(l)
	assert.Empty(t, f.Holders("overtaken-failed"), "the acquire that overtook its release left its key")
}

// A release still on its way when Unlock returns (the round was decided by
// the other two nodes), and then lost, is asked again: the key is not left
// behind on that node.
func TestUnlockRetriesALateLostRelease(t *testing.T) {
	const name = "late-lost-release"
	f := newFixture(t, 3)
	l := f.Locker(core.WithNodeTimeout(100 * time.Millisecond))
	ol, gl := f.Locker(), f.Locker()
	other := ol.NewMutex(name)
	require.NoError(t, other.TryLock(f.Ctx))
	f.settle(ol)             // held on every node: the gate refuses
	gate := f.gate(gl, name) // Unlock waits for the gate's release: lose another node's
	require.NoError(t, other.Unlock(f.Ctx))
	f.settle(ol) // its last release may still be on its way
	f.settle(gl)
	lost := (gate + 1) % 3
	m := l.NewMutex(name)
	require.NoError(t, m.TryLock(f.Ctx))
	f.settle(l)
	require.Len(t, f.Holders(name), 3)
	before := f.faulty[lost].Calls("release")
	f.faulty[lost].On("release", 1, func(ctx context.Context, _ testnode.Call, _ func(context.Context) (any, error)) (any, error) {
		<-ctx.Done() // the round decides without it; then it is lost
		return nil, ctx.Err()
	})
	require.NoError(t, m.Unlock(f.Ctx), "two nodes of three released")
	f.settle(l)
	assert.Empty(t, f.Holders(name), "a key left behind after Unlock and Wait")
	assert.Equal(t, before+2, f.faulty[lost].Calls("release"), "the release was asked again")
}

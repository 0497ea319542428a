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

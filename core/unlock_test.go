package core_test

import (
	"io"
	"testing"

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

package conformance

import (
	"context"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
)

// The cases of force release: the break script's replies through Eval,
// and a broken lock's holder told through the adapter.
var breakCases = []testCase{
	{"BreakReplies", 1, testBreakReplies, false},
	{"BreakTellsHolder", 3, testBreakTellsHolder, false},
}

// testBreakReplies: the break script deletes the keys of the owner named
// by its fingerprint, or of any owner, and returns how many.
func testBreakReplies(f *Fixture) {
	lock, _ := lockKeys("break/")
	for _, name := range []string{"p1", "p2", "q"} {
		owner := ownerP
		if name == "q" {
			owner = ownerQ
		}
		_, err := f.Nodes[0].Eval(f.Ctx, script("acquire"), lock(name), []string{owner, claim1, longTTL, "1"})
		require.NoError(f.T, err)
	}
	keys := append(append(append(lock("p1"), lock("p2")...), lock("q")...), lock("missing")...)
	p := core.Fingerprint(ownerP[:len(ownerP)-1]) // the owner ID is the prefix without its "|"
	for _, c := range []struct {
		owner string
		want  int64
	}{{core.Fingerprint("nobody"), 0}, {p, 2}, {p, 0}, {"", 1}, {"", 0}} {
		v, err := f.Nodes[0].Eval(f.Ctx, script("break"), keys, []string{c.owner})
		require.NoError(f.T, err)
		assert.Equal(f.T, c.want, v, "break for owner %q", c.owner)
	}
	v, err := f.Servers[0].Do("DBSIZE")
	require.NoError(f.T, err)
	assert.Equal(f.T, int64(0), v)
}

// testBreakTellsHolder: Locker.Break deletes a kept-alive lock on every
// node; the holder hears of it through Done, and the next holder's token
// is higher.
func testBreakTellsHolder(f *Fixture) {
	l := f.Locker(core.WithTTL(900*time.Millisecond), core.WithFencing())
	holder := l.NewMutex("broken", core.WithKeepAlive(true))
	require.NoError(f.T, holder.Lock(f.Ctx))
	done, token := holder.Done(), holder.Fence()
	require.NoError(f.T, l.Wait(f.Ctx))
	info, err := l.Inspect(f.Ctx, "broken")
	require.NoError(f.T, err)
	n, err := l.Break(f.Ctx, "broken", info.Owner)
	require.NoError(f.T, err)
	assert.Equal(f.T, len(f.Servers), n)
	select {
	case <-done:
	case <-f.Ctx.Done():
		f.T.Fatal("the holder of a broken lock was not told")
	}
	assert.ErrorIs(f.T, holder.Err(), core.ErrLockLost)
	next := l.NewMutex("broken")
	ctx, cancel := context.WithTimeout(f.Ctx, 5*time.Second)
	defer cancel()
	require.NoError(f.T, next.Lock(ctx))
	assert.Greater(f.T, next.Fence(), token)
	require.NoError(f.T, next.Unlock(f.Ctx))
}

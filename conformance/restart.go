package conformance

import (
	"context"
	"sync"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
)

// The cases of servers that restart under a Node: the connections a
// restart cut must cost no failed call once the server is back.
var restartCases = []testCase{
	{"FirstCallAfterRestart", 1, testFirstCallAfterRestart, false},
	{"UnlockAcrossRestarts", 5, testUnlockAcrossRestarts, false},
}

// testFirstCallAfterRestart: a Locker of one node, whose client has
// several connections open, and then the server restarts. The first
// acquisition and release once the server is back must both succeed: core
// repeats a call whose connection broke, and the adapter's repeat must
// reach the server.
func testFirstCallAfterRestart(f *Fixture) {
	l := f.Locker()
	// Open several connections: calls made at once take one each.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := l.NewMutex("warm-" + string(rune('a'+i)))
			if assert.NoError(f.T, m.TryLock(f.Ctx)) {
				assert.NoError(f.T, m.Unlock(f.Ctx))
			}
		}()
	}
	wg.Wait()
	require.NoError(f.T, l.Wait(f.Ctx))

	require.NoError(f.T, f.Servers[0].Restart())
	m := l.NewMutex("restarted")
	require.NoError(f.T, m.TryLock(f.Ctx), "the first call after the restart")
	require.NoError(f.T, m.Unlock(f.Ctx), "the release after the restart")
	require.NoError(f.T, f.Servers[0].Restart())
	require.NoError(f.T, m.TryLock(f.Ctx), "the first call after a second restart")
	require.NoError(f.T, m.Unlock(f.Ctx))
}

// testUnlockAcrossRestarts: five nodes, two of which hold another
// owner's leftover key, so that each acquisition has the other three; one
// of those three is restarted every four rounds of Lock and Unlock. Every
// Unlock of a lock just acquired returns nil, also the one that meets the
// connection the restart cut. Then, with fencing on and no leftovers, the
// tokens keep increasing while each node in turn restarts empty.
func testUnlockAcrossRestarts(f *Fixture) {
	for _, i := range []int{3, 4} {
		_, err := f.Servers[i].Do("SET", core.Key("restarts"), "someone else's leftover", "PX", "600000")
		require.NoError(f.T, err)
	}
	l := f.Locker()
	for round := range 24 {
		if round%4 == 3 {
			require.NoError(f.T, f.Servers[(round/4)%3].Restart())
		}
		m := l.NewMutex("restarts")
		require.NoError(f.T, m.Lock(f.Ctx), "round %d", round)
		require.NoError(f.T, m.Unlock(f.Ctx), "round %d: the Unlock of a lock just acquired", round)
	}
	require.NoError(f.T, l.Wait(f.Ctx))

	fenced := f.Locker(core.WithFencing())
	var last uint64
	for round := range 20 {
		if round%4 == 3 {
			require.NoError(f.T, f.Servers[(round/4)%len(f.Servers)].Restart())
		}
		m := fenced.NewMutex("fenced-restarts")
		require.NoError(f.T, m.Lock(f.Ctx), "fenced round %d", round)
		assert.Greater(f.T, m.Fence(), last, "fenced round %d", round)
		last = m.Fence()
		require.NoError(f.T, m.Unlock(f.Ctx), "fenced round %d", round)
	}
	require.NoError(f.T, fenced.Wait(context.WithoutCancel(f.Ctx)))
}

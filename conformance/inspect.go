package conformance

import (
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
)

// The cases of inspection: the inspect script's replies through Eval, and
// a holder's metadata read back through Locker.Inspect.
var inspectCases = []testCase{
	{"InspectReplies", 1, testInspectReplies, false},
	{"InspectMetadata", 3, testInspectMetadata, false},
}

// testInspectReplies: the inspect script, through Eval, reads a missing
// lock as "", -2, "" and a held one as its value, its PTTL and its
// counter, pair after pair of keys.
func testInspectReplies(f *Fixture) {
	lock, fenced := lockKeys("inspect/")
	acquire := func(keys []string) {
		_, err := f.Nodes[0].Eval(f.Ctx, script("acquire"), keys, []string{ownerP, claim1, longTTL, "1"})
		require.NoError(f.T, err)
	}
	acquire(lock("held"))
	acquire(fenced("fenced"))
	_, err := f.Nodes[0].Eval(f.Ctx, script("fence"), fenced("fenced"), []string{ownerP, "5", "0000000000000005", claim1, "86400000"})
	require.NoError(f.T, err)

	keys := append(append(fenced("missing"), fenced("held")...), fenced("fenced")...)
	for _, flushed := range []bool{false, true} {
		if flushed {
			f.OnAll("SCRIPT", "FLUSH")
		}
		v, err := f.Nodes[0].Eval(f.Ctx, script("inspect"), keys, nil)
		require.NoError(f.T, err)
		got, ok := v.([]any)
		require.True(f.T, ok, "inspect replies an array, got %#v", v)
		require.Len(f.T, got, 9)
		assert.Equal(f.T, []any{"", int64(-2), ""}, got[:3], "a missing lock")
		assert.Equal(f.T, ownerP+claim1+noToken+"01", got[3], "the held lock's value")
		assert.Greater(f.T, got[4], int64(50000), "the held lock's PTTL")
		assert.Equal(f.T, "", got[5], "no counter")
		assert.Equal(f.T, ownerP+claim1+"0000000000000005"+"01", got[6])
		assert.Equal(f.T, "5", got[8], "the counter")
	}
}

// testInspectMetadata: a holder's metadata comes back through Inspect on
// every node, with its fingerprint and token; after Unlock, nobody holds.
func testInspectMetadata(f *Fixture) {
	l := f.Locker(core.WithFencing(), core.WithTTL(5*time.Second))
	m := l.NewMutex("described", FixedOwner("owner-id"), core.WithMetadata("web-3 (pid 1234)"))
	require.NoError(f.T, m.TryLock(f.Ctx))
	require.NoError(f.T, l.Wait(f.Ctx))
	info, err := l.Inspect(f.Ctx, "described")
	require.NoError(f.T, err)
	require.True(f.T, info.Held)
	assert.Equal(f.T, "web-3 (pid 1234)", info.Metadata)
	assert.Equal(f.T, core.Fingerprint("owner-id"), info.Owner)
	assert.Equal(f.T, m.Fence(), info.Token)
	assert.Equal(f.T, len(f.Servers), info.Answered)
	for _, ni := range info.Nodes {
		assert.True(f.T, ni.Held)
		assert.Equal(f.T, "web-3 (pid 1234)", ni.Metadata)
		assert.Greater(f.T, ni.TTL, time.Second)
	}
	require.NoError(f.T, m.Unlock(f.Ctx))
	require.NoError(f.T, l.Wait(f.Ctx))
	info, err = l.Inspect(f.Ctx, "described")
	require.NoError(f.T, err)
	assert.False(f.T, info.Held)
	assert.Equal(f.T, m.Fence(), uint64(0))
}

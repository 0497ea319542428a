package core_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/granularity"
)

// The metadata a holder stores comes back through Inspect, node by node
// and for the quorum, with the owner's fingerprint, the TTL, the token and
// the counter; the owner ID itself never does.
func TestInspectMetadataRoundTrip(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithTTL(5*time.Second), core.WithFencing())
	info, err := l.Inspect(f.Ctx, "job")
	require.NoError(t, err)
	assert.False(t, info.Held)
	assert.Equal(t, 3, info.Answered)
	assert.Equal(t, core.Key("job"), info.Key)

	const meta = "host-a pid 42 | nightly"
	m := l.NewMutex("job", conformance.FixedOwner("secret-owner-id"), core.WithMetadata(meta))
	require.NoError(t, m.TryLock(f.Ctx))
	f.settle(l)
	info, err = l.Inspect(f.Ctx, "job")
	require.NoError(t, err)
	require.True(t, info.Held)
	assert.Equal(t, meta, info.Metadata)
	assert.Equal(t, core.Fingerprint("secret-owner-id"), info.Owner)
	assert.Len(t, info.Owner, 6)
	assert.Equal(t, 3, info.HeldOn)
	assert.Equal(t, m.Fence(), info.Token)
	assert.Equal(t, m.Fence(), info.Fence)
	for i, ni := range info.Nodes {
		assert.Equal(t, f.Servers[i].Addr, ni.Addr)
		assert.NoError(t, ni.Err)
		assert.True(t, ni.Held)
		assert.Equal(t, meta, ni.Metadata)
		assert.Equal(t, info.Owner, ni.Owner)
		assert.Greater(t, ni.TTL, 4*time.Second)
		assert.LessOrEqual(t, ni.TTL, 5*time.Second)
		assert.Equal(t, m.Fence(), ni.Token)
	}
	assert.NotContains(t, fmt.Sprintf("%+v", info), "secret-owner-id", "the owner ID is the key to the lock")

	require.NoError(t, m.Unlock(f.Ctx))
	f.settle(l)
	info, err = l.Inspect(f.Ctx, "job")
	require.NoError(t, err)
	assert.False(t, info.Held)
	assert.Empty(t, info.Metadata)
	assert.Equal(t, m.Fence(), uint64(0))
	assert.NotZero(t, info.Fence, "the counter outlives the lock")
}

// Metadata is part of the owner's identity: handles of one Process owner
// share the lock only with equal metadata.
func TestMetadataIsPartOfOwner(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithOwner(granularity.Process()))
	a := l.NewMutex("shared", core.WithMetadata("a"))
	require.NoError(t, a.TryLock(f.Ctx))
	assert.ErrorIs(t, l.NewMutex("shared", core.WithMetadata("b")).TryLock(f.Ctx), core.ErrNotAcquired,
		"the same owner with other metadata")
	assert.ErrorIs(t, l.NewMutex("shared").TryLock(f.Ctx), core.ErrNotAcquired, "the same owner without metadata")
	same := l.NewMutex("shared", core.WithMetadata("a"))
	require.NoError(t, same.TryLock(f.Ctx), "the same owner with the same metadata shares the lock")
	require.NoError(t, a.Unlock(f.Ctx))
}

// Metadata too long or not UTF-8 is an option error; an owner ID with "|"
// cannot carry metadata.
func TestMetadataRefused(t *testing.T) {
	f := newFixture(t, 1)
	l := f.Locker()
	err := l.NewMutex("m", core.WithMetadata(strings.Repeat("x", core.MaxMetadata+1))).TryLock(f.Ctx)
	assert.ErrorContains(t, err, "metadata of 257 bytes")
	assert.ErrorContains(t, l.NewMutex("m", core.WithMetadata("\xff")).TryLock(f.Ctx), "UTF-8")
	require.NoError(t, l.NewMutex("m", core.WithMetadata(strings.Repeat("x", core.MaxMetadata))).TryLock(f.Ctx))
	err = l.NewMutex("bar", conformance.FixedOwner("a|b"), core.WithMetadata("m")).TryLock(f.Ctx)
	assert.ErrorContains(t, err, `may not contain "|"`)
	_, err = core.New(f.Nodes, core.WithMetadata("\xff"))
	assert.Error(t, err)
}

// With fewer than a quorum of nodes answering, Inspect says it cannot tell,
// and which nodes did not answer; what the others said comes back.
func TestInspectNoQuorum(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithNodeTimeout(100 * time.Millisecond))
	require.NoError(t, l.NewMutex("lonely", core.WithMetadata("x")).TryLock(f.Ctx))
	f.settle(l)
	f.Servers[0].Kill()
	f.Servers[2].Pause()
	defer f.Servers[2].Resume()
	info, err := l.Inspect(f.Ctx, "lonely")
	require.ErrorIs(t, err, core.ErrNoQuorum)
	var ne *core.NodeError
	require.ErrorAs(t, err, &ne)
	assert.Contains(t, err.Error(), f.Servers[0].Addr)
	assert.Contains(t, err.Error(), f.Servers[2].Addr)
	require.NotNil(t, info)
	assert.Equal(t, 1, info.Answered)
	assert.False(t, info.Held, "one node is no quorum")
	assert.True(t, info.Nodes[1].Held)
	assert.Equal(t, "x", info.Nodes[1].Metadata)
	assert.Error(t, info.Nodes[2].Err, "the paused node")

	_, err = l.Inspect(f.Ctx, "")
	assert.Error(t, err)
	ctx, cancel := context.WithCancel(f.Ctx)
	cancel()
	_, err = l.Inspect(ctx, "lonely")
	assert.ErrorIs(t, err, context.Canceled)
}

// Two owners that split the nodes: neither holds a quorum.
func TestInspectSplit(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker()
	require.NoError(t, l.NewMutex("split", conformance.FixedOwner("one")).TryLock(f.Ctx))
	f.settle(l)
	_, err := f.Servers[0].Do("SET", core.Key("split"), "two|0000000000000001000000000000000001", "PX", "5000")
	require.NoError(t, err)
	_, err = f.Servers[1].Do("SET", core.Key("split"), "not a lock value", "PX", "5000")
	require.NoError(t, err)
	info, err := l.Inspect(f.Ctx, "split")
	require.NoError(t, err)
	assert.False(t, info.Held)
	assert.Equal(t, core.Fingerprint("two"), info.Nodes[0].Owner)
	assert.True(t, info.Nodes[1].Held)
	assert.Empty(t, info.Nodes[1].Owner, "a value that is not a lock's has no owner")
	assert.Equal(t, core.Fingerprint("one"), info.Nodes[2].Owner)
}

// A semaphore's slots, in one round, each with its holder's metadata.
func TestInspectSemaphore(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker()
	a := l.NewSemaphore("pool", 3, core.WithMetadata("worker a"))
	b := l.NewSemaphore("pool", 3, core.WithMetadata("worker b"))
	require.NoError(t, a.TryAcquire(f.Ctx))
	require.NoError(t, b.TryAcquire(f.Ctx))
	f.settle(l)
	infos, err := l.InspectSemaphore(f.Ctx, "pool", 3)
	require.NoError(t, err)
	require.Len(t, infos, 3)
	held := map[int]string{}
	for i, info := range infos {
		assert.Equal(t, core.SlotKey("pool", i), info.Key)
		assert.Equal(t, fmt.Sprintf("pool[%d]", i), info.Name)
		if info.Held {
			held[i] = info.Metadata
		}
	}
	assert.Equal(t, map[int]string{a.Slot(): "worker a", b.Slot(): "worker b"}, held)
	_, err = l.InspectSemaphore(f.Ctx, "pool", 0)
	assert.Error(t, err)
}

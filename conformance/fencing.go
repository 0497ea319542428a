package conformance

import (
	"context"
	"fmt"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
)

// The fencing cases.
var fencingCases = []testCase{
	{"FencingTokensIncrease", 3, testFencingIncrease, false},
}

func testFencingIncrease(f *Fixture) {
	l := f.Locker(core.WithFencing())
	m := l.NewMutex("fenced")
	assert.Zero(f.T, m.Fence(), "no token before acquiring")
	require.NoError(f.T, m.TryLock(f.Ctx))
	first := m.Fence()
	require.NotZero(f.T, first)
	require.NoError(f.T, m.TryLock(f.Ctx), "refresh")
	assert.Equal(f.T, first, m.Fence(), "a refresh keeps the token")
	require.NoError(f.T, m.Extend(f.Ctx))
	assert.Equal(f.T, first, m.Fence(), "an extension keeps the token")
	require.NoError(f.T, m.Unlock(f.Ctx))
	assert.Zero(f.T, m.Fence(), "no token after Unlock")

	last := first
	for i := range 5 {
		other := l.NewMutex("fenced")
		require.NoError(f.T, other.Lock(f.Ctx))
		assert.Greater(f.T, other.Fence(), last, "holder %d", i)
		last = other.Fence()
		require.NoError(f.T, other.Unlock(f.Ctx))
	}
	for i, s := range f.Servers {
		v, err := s.Do("PTTL", core.FenceKey("fenced"))
		require.NoError(f.T, err)
		assertCounterTTL(f.T, v, core.DefaultCounterTTL, "the counter on node %d", i)
	}
	assert.Empty(f.T, l.NewMutex("unfenced").Fence())

	// Do hands the token to fn.
	require.NoError(f.T, l.Do(f.Ctx, "fenced", func(ctx context.Context) error {
		assert.Greater(f.T, core.FenceOf(ctx), last, "Do's token")
		return nil
	}))
	require.NoError(f.T, f.Locker().Do(f.Ctx, "unfenced", func(ctx context.Context) error {
		assert.Zero(f.T, core.FenceOf(ctx), "no token without WithFencing")
		return nil
	}))
}

// assertCounterTTL checks that pttl, a fencing counter's PTTL, is at most
// ttl and more than a minute less than it (as set by a recent commit).
func assertCounterTTL(t assert.TestingT, pttl any, ttl time.Duration, msg string, args ...any) {
	ms, ok := pttl.(int64)
	what := fmt.Sprintf(msg, args...)
	if assert.True(t, ok, "%s: PTTL %v", what, pttl) {
		assert.LessOrEqual(t, ms, ttl.Milliseconds(), "%s: TTL above the counter TTL", what)
		assert.Greater(t, ms, (ttl - time.Minute).Milliseconds(), "%s: not set by the last commit", what)
	}
}

package core_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/internal/testnode"
)

// The node calls of a round whose caller cannot cancel get a context that
// only its deadline ends, the node timeout from the round's start
// (core.EndsAtDeadline says so, for adapters); a round whose caller can
// cancel gives its calls a context of their own, which does not qualify.
func TestNodeContextEndsAtDeadline(t *testing.T) {
	f := newFixture(t, 3)
	const timeout = 2 * time.Second
	l := f.Locker(core.WithNodeTimeout(timeout))
	round := func(ctx context.Context, name string) (ends []bool, left []time.Duration) {
		t.Helper()
		var mu sync.Mutex
		f.arm("acquire", func(ctx context.Context, _ testnode.Call, run func(context.Context) (any, error)) (any, error) {
			deadline, ok := ctx.Deadline()
			mu.Lock()
			ends = append(ends, core.EndsAtDeadline(ctx))
			if ok {
				left = append(left, time.Until(deadline))
			}
			mu.Unlock()
			return run(ctx)
		}, 0, 1, 2)
		m := l.NewMutex(name)
		require.NoError(t, m.TryLock(ctx))
		require.NoError(t, m.Unlock(ctx))
		require.NoError(t, l.Wait(f.Ctx))
		mu.Lock()
		defer mu.Unlock()
		return ends, left
	}

	ends, left := round(context.Background(), "uncancellable")
	assert.Equal(t, []bool{true, true, true}, ends, "a round that its caller cannot cancel")
	require.Len(t, left, 3)
	for _, d := range left {
		assert.LessOrEqual(t, d, timeout+time.Millisecond, "the shared deadline is at most a millisecond past the node timeout")
		assert.Greater(t, d, timeout/2, "the deadline is the node timeout's")
	}

	ctx, cancel := context.WithCancel(f.Ctx)
	defer cancel()
	ends, left = round(ctx, "cancellable")
	assert.Equal(t, []bool{false, false, false}, ends, "a round that its caller can cancel")
	assert.Len(t, left, 3, "with the node timeout as deadline")

	assert.False(t, core.EndsAtDeadline(context.Background()))
	dl, stop := context.WithTimeout(context.Background(), time.Second)
	defer stop()
	assert.False(t, core.EndsAtDeadline(dl), "a context core did not make")
}

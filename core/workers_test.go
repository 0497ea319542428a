package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/internal/testnode"
)

// A round's node calls run on workers, which outlive it for the rounds
// that follow; a process that stops locking has none left a little later.
func TestWorkersEndWhenIdle(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker()
	inCall, resume := make(chan struct{}), make(chan struct{})
	f.arm("acquire", func(ctx context.Context, _ testnode.Call, run func(context.Context) (any, error)) (any, error) {
		close(inCall)
		<-resume
		return run(ctx)
	}, 0)
	m := l.NewMutex("workers")
	locked := make(chan error, 1)
	go func() { locked <- m.Lock(f.Ctx) }()
	<-inCall
	assert.Positive(t, core.Workers(), "a node call runs on a worker")
	close(resume)
	require.NoError(t, <-locked)
	require.NoError(t, m.Unlock(f.Ctx))
	f.settle(l)
	require.Eventually(t, func() bool { return core.Workers() == 0 }, 10*time.Second, 10*time.Millisecond,
		"workers outlived a quiet spell")
}

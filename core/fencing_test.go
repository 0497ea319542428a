package core_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
)

// Each node of five in turn is lost and restarts empty; the tokens keep
// increasing, since every quorum shares a node with the last.
func TestFencingSurvivesSingleNodeLoss(t *testing.T) {
	f := newFixture(t, 5)
	l := f.Locker(core.WithFencing(), core.WithNodeTimeout(200*time.Millisecond))
	var last uint64
	take := func(what string) {
		t.Helper()
		m := l.NewMutex("fenced")
		require.NoError(t, m.Lock(f.Ctx), what)
		require.Greater(t, m.Fence(), last, what)
		last = m.Fence()
		require.NoError(t, m.Unlock(f.Ctx), what)
	}
	take("all up")
	for i, s := range f.Servers {
		s.Kill()
		take("node " + strconv.Itoa(i) + " down")
		require.NoError(t, s.Restart())
		take("node " + strconv.Itoa(i) + " restarted empty")
	}
}

package core_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

// Waiters that come and go around the moment their subscription goes
// idle leave no subscription open, and the process forgets the nodes and
// the lock names once nobody waits.
func TestSubscriptionsGoAwayWhenIdle(t *testing.T) {
	defer core.SetWakeIdle(time.Millisecond)()
	f := newFixture(t, 1)
	l := f.Locker()
	holder := l.NewMutex("busy")
	require.NoError(t, holder.TryLock(f.Ctx))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				name := "busy"
				if i%3 == 0 {
					name = fmt.Sprintf("name-%d-%d", g, i) // distinct names: queues must not pile up
					require.NoError(t, l.NewMutex(name, conformance.FixedOwner("other")).TryLock(f.Ctx))
				}
				ctx, cancel := context.WithTimeout(f.Ctx, time.Duration(1+i%4)*time.Millisecond)
				assert.ErrorIs(t, l.NewMutex(name).Lock(ctx), core.ErrNotAcquired)
				cancel()
			}
		}()
	}
	wg.Wait()
	assert.Eventually(t, func() bool {
		v, err := f.Servers[0].Do("PUBSUB", "NUMPAT")
		return err == nil && v == int64(0)
	}, 5*time.Second, 5*time.Millisecond, "a subscription stayed open with nobody waiting")
	assert.Eventually(t, func() bool {
		listeners, queues := core.HubSize()
		return listeners == 0 && queues == 0
	}, 5*time.Second, 5*time.Millisecond, "the process still holds listeners or queues")
}

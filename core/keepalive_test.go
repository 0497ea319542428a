package core_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

// A kept-alive lock whose majority of nodes is killed is lost: Done
// closes while the last validity the holder was told of still runs, and
// Err says ErrLockLost.
func TestLossByMajorityKilled(t *testing.T) {
	f := newFixture(t, 3)
	var mu sync.Mutex
	var until time.Time // the last end of validity the holder was told of
	l := f.Locker(core.WithTTL(time.Second), core.WithNodeTimeout(100*time.Millisecond), core.WithKeepAlive(true),
		core.WithEvents(func(e core.Event) {
			mu.Lock()
			defer mu.Unlock()
			if e.Kind == core.Acquired || e.Kind == core.Extended {
				until = e.Until
			}
		}))
	m := l.NewMutex("majority")
	require.NoError(t, m.Lock(f.Ctx))
	done := m.Done()
	require.NoError(t, m.Err())
	f.Servers[0].Kill()
	f.Servers[2].Kill()
	select {
	case <-done:
	case <-f.Ctx.Done():
		t.Fatal("loss never signalled")
	}
	mu.Lock()
	assert.True(t, time.Now().Before(until), "loss signalled before the validity ended")
	mu.Unlock()
	assert.True(t, m.Until().IsZero(), "Until after the loss")
	assert.ErrorIs(t, m.Err(), core.ErrLockLost)
}

// Do releases the lock when fn panics, and the panic goes on.
func TestDoReleasesOnPanic(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker()
	func() {
		defer func() { assert.Equal(t, "boom", recover()) }()
		l.Do(f.Ctx, "panics", func(context.Context) error { panic("boom") })
	}()
	f.WaitFree("panics")
	require.NoError(t, l.NewMutex("panics").TryLock(f.Ctx))
}

// WithMaxHold caps how long Do keeps a lock alive: the lock is extended,
// but not past the cap, and the job is told of the loss.
func TestMaxHoldEndsKeepAlive(t *testing.T) {
	f := newFixture(t, 3)
	const ttl = 400 * time.Millisecond
	l := f.Locker(core.WithTTL(ttl), core.WithNodeTimeout(50*time.Millisecond))
	start := time.Now()
	err := l.Do(f.Ctx, "capped", func(ctx context.Context) error {
		return conformance.Job(ctx, 20*ttl)
	}, core.WithMaxHold(2*ttl))
	require.ErrorIs(t, err, core.ErrLockLost)
	held := time.Since(start)
	assert.Greater(t, held, ttl, "extended at least once")
	assert.Less(t, held, 2*ttl+ttl/2, "not extended past the cap")
}

// WithEvents reports a Do's lock from Acquired through Extended to
// Released, naming the lock.
func TestEventsReportLifecycle(t *testing.T) {
	f := newFixture(t, 3)
	var mu sync.Mutex
	var kinds []core.EventKind
	l := f.Locker(core.WithTTL(600*time.Millisecond), core.WithNodeTimeout(100*time.Millisecond), core.WithEvents(func(e core.Event) {
		assert.Equal(t, "events", e.Name)
		mu.Lock()
		kinds = append(kinds, e.Kind)
		mu.Unlock()
	}))
	require.NoError(t, l.Do(f.Ctx, "events", func(ctx context.Context) error { return conformance.Job(ctx, time.Second) }))
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, kinds)
	assert.Equal(t, core.Acquired, kinds[0])
	assert.Contains(t, kinds, core.Extended)
	assert.Equal(t, core.Released, kinds[len(kinds)-1])
}

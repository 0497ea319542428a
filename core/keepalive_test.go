package core_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/internal/testnode"
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

// A node that runs every extension and answers only after the node timeout
// costs the keep-alive nothing: an extension is decided at its first
// quorum, like a round. TTL 900ms and node timeout 300ms leave 300ms per
// period for the extension (default period TTL/3); an extension that waited
// for the hung node used to end at the loss deadline, so the lock was lost
// at about 600ms with two nodes answering within a millisecond.
func TestKeepAliveWithAHungNode(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithTTL(900*time.Millisecond), core.WithNodeTimeout(300*time.Millisecond), core.WithKeepAlive(true))
	m := l.NewMutex("hung-node")
	require.NoError(t, m.Lock(f.Ctx))
	f.faulty[0].On("extend", -1, testnode.RunThenLate())
	before := f.faulty[1].Calls("extend")
	require.Eventually(t, func() bool { return f.faulty[1].Calls("extend")-before >= 5 || closed(m.Done()) },
		10*time.Second, 5*time.Millisecond)
	require.False(t, closed(m.Done()), "lost with two of three nodes extending: %v", m.Err())
	require.NoError(t, m.Err())
	assert.Equal(t, []int{0, 1, 2}, f.Holders("hung-node"), "the hung node's late extensions keep its key too")
	f.faulty[0].Reset()
	require.NoError(t, m.Unlock(f.Ctx))
	f.settle(l)
}

// A keep-alive extension that fails without deciding the lock's fate (one
// node refuses, one fails, one extends) is retried every eighth of a
// period while the validity lasts, not back to back: such retries used to
// join the next round at once, a round every millisecond.
func TestFailedExtensionRetriesAreSpaced(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithTTL(900*time.Millisecond), core.WithNodeTimeout(50*time.Millisecond), core.WithKeepAlive(true))
	m := l.NewMutex("spaced")
	require.NoError(t, m.Lock(f.Ctx))
	// The acquire's last call lands before the key goes: it would bring the
	// key back.
	require.Eventually(t, func() bool { return len(f.Holders("spaced")) == 3 }, 5*time.Second, time.Millisecond)
	f.faulty[1].On("extend", -1, testnode.Lose(nil))
	_, err := f.Servers[0].Do("DEL", core.Key("spaced"))
	require.NoError(t, err)
	before := f.faulty[2].Calls("extend")
	select {
	case <-m.Done():
	case <-f.Ctx.Done():
		t.Fatal("never lost")
	}
	// From the first failure to the loss deadline, under 900ms, at most one
	// retry per 300ms/8 = 37.5ms: about 20.
	assert.LessOrEqual(t, f.faulty[2].Calls("extend")-before, 30, "extension retries back to back")
	f.faulty[1].Reset()
	f.settle(l)
}

// Do tells fn of a loss through its context; when fn returns the cause, as
// the README's example does, Do's error says the loss once.
func TestDoSaysALossOnce(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithTTL(900*time.Millisecond), core.WithNodeTimeout(50*time.Millisecond))
	err := l.Do(f.Ctx, "do-lost", func(ctx context.Context) error {
		require.Eventually(t, func() bool { return len(f.Holders("do-lost")) == 3 }, 5*time.Second, time.Millisecond)
		for _, s := range f.Servers {
			_, err := s.Do("DEL", core.Key("do-lost"))
			require.NoError(t, err)
		}
		<-ctx.Done()
		return context.Cause(ctx)
	})
	require.ErrorIs(t, err, core.ErrLockLost)
	assert.Equal(t, 1, strings.Count(err.Error(), core.ErrLockLost.Error()), "the loss told twice: %v", err)
	f.settle(l)
}

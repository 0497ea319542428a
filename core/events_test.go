package core_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/retry"
)

// recorder is a LockObserver that keeps every event, with the value of
// ctxKey in its context, and marks the context of every Lock it starts.
type recorder struct {
	mu     sync.Mutex
	events []core.Event
	values []any
	starts int
}

type ctxKey struct{}

func (r *recorder) Observe(ctx context.Context, e core.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	r.values = append(r.values, ctx.Value(ctxKey{}))
}

func (r *recorder) StartLock(ctx context.Context, name string) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts++
	return context.WithValue(ctx, ctxKey{}, "lock:"+name)
}

// kinds returns the kinds of the events seen, and the ctx values with them.
func (r *recorder) kinds() ([]core.EventKind, []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var kinds []core.EventKind
	for _, e := range r.events {
		kinds = append(kinds, e.Kind)
	}
	return kinds, append([]any(nil), r.values...)
}

func (r *recorder) last(kind core.EventKind) core.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].Kind == kind {
			return r.events[i]
		}
	}
	return core.Event{}
}

// An Observer sees every kind, with the caller's context, and the context
// its StartLock returned for a Lock's rounds; refused rounds carry what
// each node answered; every holding that begins ends once. An events
// function sees only the kinds it always saw.
func TestObserverSeesEveryStep(t *testing.T) {
	f := newFixture(t, 3)
	obs := &recorder{}
	var mu sync.Mutex
	var classic []core.EventKind
	l := f.Locker(core.WithObserver(obs), core.WithEvents(func(e core.Event) {
		mu.Lock()
		classic = append(classic, e.Kind)
		mu.Unlock()
	}))
	ctx := context.WithValue(f.Ctx, ctxKey{}, "caller")
	holder := l.NewMutex("observed")
	require.NoError(t, holder.Lock(ctx))
	acquired := obs.last(core.Acquired)
	assert.True(t, acquired.Began)
	require.Len(t, acquired.Replies, 3)
	for i, rep := range acquired.Replies {
		assert.Equal(t, f.Nodes[i].Addr(), rep.Addr)
	}
	require.NoError(t, holder.TryLock(ctx))
	assert.False(t, obs.last(core.Acquired).Began, "a refresh begins no holding")

	other := l.NewMutex("observed", core.WithRetry(retry.Never()))
	require.ErrorIs(t, other.Lock(ctx), core.ErrNotAcquired)
	refused := obs.last(core.NotAcquired)
	require.ErrorIs(t, refused.Err, core.ErrNotAcquired)
	n := 0
	for _, rep := range refused.Replies {
		if rep.Outcome == core.NodeRefused {
			n++
			assert.ErrorIs(t, rep.Err, core.ErrHeldByOther)
		}
	}
	assert.GreaterOrEqual(t, n, 1)
	require.ErrorIs(t, obs.last(core.Waited).Err, core.ErrNotAcquired)

	f.OnAll("DEL", core.Key("observed"))
	require.ErrorIs(t, holder.Unlock(ctx), core.ErrNotHeld)
	require.ErrorIs(t, obs.last(core.ReleaseFailed).Err, core.ErrNotHeld)
	f.settle(l)

	kinds, values := obs.kinds()
	assert.Equal(t, []core.EventKind{
		core.Acquired, core.Waited, // holder.Lock
		core.Acquired,                 // holder.TryLock
		core.NotAcquired, core.Waited, // other.Lock
		core.Ended, core.ReleaseFailed, // holder.Unlock
	}, kinds)
	assert.Equal(t, []any{"lock:observed", "lock:observed", "caller", "lock:observed", "lock:observed", nil, "caller"}, values,
		"each event has its call's context, a Lock's the one StartLock gave")
	assert.Equal(t, 2, obs.starts)
	mu.Lock()
	assert.Equal(t, []core.EventKind{core.Acquired, core.Acquired}, classic, "the events function sees the kinds it always saw")
	mu.Unlock()
}

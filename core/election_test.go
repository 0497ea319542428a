package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/internal/testnode"
	"github.com/redlock-go/redlock/retry"
)

// One campaigner leads at a time; Leader and InspectElection show its
// value; a resignation lets the next one lead with a higher term.
func TestElectionCampaignAndResign(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker()
	a, b := l.NewElection("leader"), l.NewElection("leader")
	_, err := a.Leader(f.Ctx)
	require.ErrorIs(t, err, core.ErrNoLeader, "before any campaign")
	assert.True(t, closed(a.Done()))
	assert.Zero(t, a.Fence())

	require.NoError(t, a.Campaign(f.Ctx, "host-a"))
	assert.NotZero(t, a.Fence())
	assert.NoError(t, a.Err())
	assert.True(t, time.Now().Before(a.Until()))
	f.settle(l)
	leader, err := b.Leader(f.Ctx)
	require.NoError(t, err)
	assert.Equal(t, "host-a", leader)
	info, err := l.InspectElection(f.Ctx, "leader")
	require.NoError(t, err)
	assert.True(t, info.Held)
	assert.Equal(t, "host-a", info.Metadata, "Leader matches Inspect")
	assert.Equal(t, a.Fence(), info.Token)
	assert.Equal(t, core.ElectionKey("leader"), info.Key)
	assert.Empty(t, f.Holders("leader"), "an election is not the Mutex of its name")

	require.NoError(t, a.Campaign(f.Ctx, "host-a"), "a leader campaigning again with its value")
	assert.Error(t, a.Campaign(f.Ctx, "host-z"), "a leader campaigning with another value")

	ctx, cancel := context.WithTimeout(f.Ctx, 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, b.Campaign(ctx, "host-b"), core.ErrNotAcquired, "a second leader")

	led := make(chan error, 1)
	go func() { led <- b.Campaign(f.Ctx, "host-b") }()
	first := a.Fence()
	done := a.Done()
	require.NoError(t, a.Resign(f.Ctx))
	assert.True(t, closed(done), "Done after Resign")
	assert.ErrorIs(t, a.Err(), core.ErrNotHeld)
	assert.ErrorIs(t, a.Resign(f.Ctx), core.ErrNotHeld)
	require.NoError(t, <-led)
	assert.Greater(t, b.Fence(), first, "terms increase")
	leader, err = a.Leader(f.Ctx)
	require.NoError(t, err)
	assert.Equal(t, "host-b", leader)
	require.NoError(t, b.Resign(f.Ctx))
}

// Observe reports the current leader and each new one, once each; a
// resignation wakes it at once, well before its next look.
func TestElectionObserve(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithTTL(10 * time.Second)) // looks a second apart
	a, b := l.NewElection("observed"), l.NewElection("observed")
	require.NoError(t, a.Campaign(f.Ctx, "first"))
	ctx, cancel := context.WithCancel(f.Ctx)
	seen := l.NewElection("observed").Observe(ctx)
	next := func() string {
		t.Helper()
		select {
		case v := <-seen:
			return v
		case <-f.Ctx.Done():
			t.Fatal("Observe reported nothing")
			return ""
		}
	}
	assert.Equal(t, "first", next())
	f.WaitSubscribed()
	led := make(chan error, 1)
	go func() { led <- b.Campaign(f.Ctx, "second") }()
	resigned := time.Now()
	require.NoError(t, a.Resign(f.Ctx))
	assert.Equal(t, "second", next())
	assert.Less(t, time.Since(resigned), 500*time.Millisecond, "Observe was not woken by the release")
	require.NoError(t, <-led)
	require.NoError(t, b.Resign(f.Ctx))
	require.NoError(t, a.Campaign(f.Ctx, "first"))
	assert.Equal(t, "first", next(), "a new term with an old value is a change")
	select {
	case v := <-seen:
		t.Fatalf("Observe reported %q twice", v)
	case <-time.After(1500 * time.Millisecond): // more than one look
	}
	cancel()
	for range seen { // closed when ctx ends
	}
}

// A leader whose keys are deleted hears of it through Done, and can
// campaign again, for a higher term.
func TestElectionLossTellsLeader(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithTTL(600*time.Millisecond), core.WithRetry(retry.Random(5*time.Millisecond, 20*time.Millisecond)))
	e := l.NewElection("fragile")
	require.NoError(t, e.Campaign(f.Ctx, "x"))
	done, term := e.Done(), e.Fence()
	require.NoError(t, conformance.Job(f.Ctx, 900*time.Millisecond))
	assert.NoError(t, e.Err(), "kept alive past its TTL")
	f.OnAll("DEL", core.ElectionKey("fragile"))
	select {
	case <-done:
	case <-f.Ctx.Done():
		t.Fatal("the leader was not told")
	}
	assert.ErrorIs(t, e.Err(), core.ErrLockLost)
	assert.Zero(t, e.Fence())
	require.NoError(t, e.Campaign(f.Ctx, "x"))
	assert.Greater(t, e.Fence(), term)
	require.NoError(t, e.Resign(f.Ctx))
}

// A bad name or option makes every method fail; Observe's channel closes.
func TestElectionInvalid(t *testing.T) {
	f := newFixture(t, 1)
	l := f.Locker()
	for _, e := range []*core.Election{l.NewElection(""), l.NewElection("x", core.WithTTL(-1))} {
		assert.Error(t, e.Campaign(f.Ctx, "v"))
		assert.Error(t, e.Resign(f.Ctx))
		_, err := e.Leader(f.Ctx)
		assert.Error(t, err)
		_, open := <-e.Observe(f.Ctx)
		assert.False(t, open)
	}
	assert.ErrorContains(t, l.NewElection("x").Campaign(f.Ctx, "\xff"), "UTF-8")
}

// A campaign round whose term is committed on a quorum of keys but not on
// the fence quorum (all three nodes) fails and is undone, and its
// Campaign tries again; until the undo, the nodes show the round as a
// leader, and Observe reports it. ObserveTerms tells that term from the
// campaigner's real leadership that follows with the same value.
func TestElectionObservePhantomTerm(t *testing.T) {
	f := newFixture(t, 3)
	opts := []core.Option{core.WithTTL(10 * time.Second), core.WithNodeTimeout(5 * time.Second),
		core.WithRetry(retry.Random(time.Millisecond, 5*time.Millisecond))}
	held, lost := make(chan struct{}), make(chan struct{})
	f.arm("fence", func(ctx context.Context, _ testnode.Call, _ func(context.Context) (any, error)) (any, error) {
		close(held)
		select { // held, then lost on its way: never committed on node 2
		case <-lost:
		case <-ctx.Done():
		}
		return nil, testnode.ErrDropped
	}, 2)

	ctx, cancel := context.WithCancel(f.Ctx)
	defer cancel()
	observer := f.Locker(opts...)
	terms := observer.NewElection("phantom").ObserveTerms(ctx)
	values := observer.NewElection("phantom").Observe(ctx)
	next := func() core.Term {
		t.Helper()
		select {
		case term := <-terms:
			return term
		case <-f.Ctx.Done():
			t.Fatal("ObserveTerms reported nothing")
			return core.Term{}
		}
	}

	e := f.Locker(opts...).NewElection("phantom")
	led := make(chan error, 1)
	go func() { led <- e.Campaign(f.Ctx, "v") }()
	<-held
	phantom := next()
	assert.Equal(t, "v", phantom.Value)
	assert.NotZero(t, phantom.Fence)
	value := func() string {
		t.Helper()
		select {
		case v := <-values:
			return v
		case <-f.Ctx.Done():
			t.Fatal("Observe reported nothing")
			return ""
		}
	}
	// Observe looks on its own clock: it sees the phantom term while the
	// hook holds the round, as long as it stays.
	assert.Equal(t, "v", value(), "Observe reports the phantom term")
	select {
	case err := <-led:
		t.Fatalf("Campaign returned while its term was not committed on the fence quorum: %v", err)
	default:
	}
	close(lost)
	require.NoError(t, <-led, "the Campaign tries again and leads")
	won := next()
	assert.Equal(t, core.Term{Value: "v", Fence: e.Fence()}, won, "ObserveTerms reports the real leadership")
	assert.Greater(t, won.Fence, phantom.Fence, "the real term follows the failed round's")
	assert.Equal(t, "v", value(), "Observe reports the value again for the new term")
	require.NoError(t, e.Resign(f.Ctx))
}

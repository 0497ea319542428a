package core_test

import (
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/internal/testnode"
)

// fixture is a conformance fixture whose Nodes are test Nodes wrapped in
// Faulty, so that a test can make any call of any node misbehave; unarmed,
// they are plain test Nodes. Every test of core uses one.
type fixture struct {
	*conformance.Fixture
	faulty []*testnode.Faulty
}

var faultyHarness = conformance.HarnessFunc(func(t testing.TB, addr string) core.Node {
	return testnode.Wrap(testnode.Harness.NewNode(t, addr))
})

// newFixture starts n servers for t. Its context ends with
// conformance.CaseTimeout.
func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	f := &fixture{Fixture: conformance.NewFixture(t, faultyHarness, n)}
	for _, n := range f.Nodes {
		f.faulty = append(f.faulty, n.(*testnode.Faulty))
	}
	return f
}

// arm arms script on the nodes of the given indexes with act, once each.
func (f *fixture) arm(script string, act testnode.Action, nodes ...int) {
	for _, i := range nodes {
		f.faulty[i].On(script, 1, act)
	}
}

// settle waits until every call of l still running in the background has
// ended.
func (f *fixture) settle(l *core.Locker) {
	f.T.Helper()
	require.NoError(f.T, l.Wait(f.Ctx))
}

// shorten makes the lock's keys look old: PTTL 1000ms on every server.
func (f *fixture) shorten(name string) {
	f.T.Helper()
	f.OnAll("PEXPIRE", core.Key(name), "1000")
}

// gate finds the gate node of the lock called name, held on every node by
// another Locker (settle that Locker first), as l's rounds see it: l meets the holder, so that its rounds are
// gated, and the node its next round asks alone is the gate.
func (f *fixture) gate(l *core.Locker, name string) int {
	f.T.Helper()
	m := l.NewMutex(name)
	require.ErrorIs(f.T, m.TryLock(f.Ctx), core.ErrNotAcquired) // meets the holder: l's next rounds are gated
	f.settle(l)
	before := make([]int, len(f.faulty))
	for i := range before {
		before[i] = f.faulty[i].Calls("acquire")
	}
	require.ErrorIs(f.T, m.TryLock(f.Ctx), core.ErrNotAcquired)
	gate := -1
	for i := range before {
		if f.faulty[i].Calls("acquire") > before[i] {
			require.Equal(f.T, -1, gate, "a gated round that the gate refused asked two nodes")
			gate = i
		}
	}
	require.NotEqual(f.T, -1, gate)
	return gate
}

// await waits up to five seconds for ch to be closed, and fails the test
// with never (what did not happen) otherwise.
func (f *fixture) await(ch <-chan struct{}, never string) {
	f.T.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		f.T.Fatal(never)
	}
}

// closed reports whether ch is closed or has a value ready.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// countingBackOff counts rounds and stops after max retries.
type countingBackOff struct {
	n   *int
	max int
}

func (b *countingBackOff) NextBackOff() time.Duration {
	*b.n++
	if *b.n > b.max {
		return backoff.Stop
	}
	return time.Millisecond
}

func (b *countingBackOff) Reset() {}

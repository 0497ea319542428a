package core_test

import (
	"context"
	"testing"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/internal/testnode"
)

// acquireRelease returns one uncontended acquisition (Lock, or TryLock
// when try is set) and Unlock of a lock on three real servers, through a
// Locker made with opts, waiting for the calls still in the background so
// that each run is complete.
func acquireRelease(tb testing.TB, try bool, opts ...core.Option) func() {
	tb.Helper()
	var nodes []core.Node
	for _, s := range conformance.Servers(tb, 3) {
		n := testnode.New(s.Addr)
		tb.Cleanup(n.Close)
		nodes = append(nodes, n)
	}
	l, err := core.New(nodes, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	m := l.NewMutex("bench")
	ctx := context.Background()
	acquire := m.Lock
	if try {
		acquire = m.TryLock
	}
	return func() {
		if err := acquire(ctx); err != nil {
			tb.Fatal(err)
		}
		if err := m.Unlock(ctx); err != nil {
			tb.Fatal(err)
		}
		if err := l.Wait(ctx); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkAcquireRelease measures an acquisition and a release with
// nothing listening, with an events function and with an Observer,
// allocations included: nothing that serves the listeners may cost
// anything when none is set.
func BenchmarkAcquireRelease(b *testing.B) {
	for _, bc := range []struct {
		name string
		try  bool
		opts []core.Option
	}{
		{"TryLock/none", true, nil},
		{"TryLock/events", true, []core.Option{core.WithEvents(func(core.Event) {})}},
		{"Lock/none", false, nil},
		{"Lock/events", false, []core.Option{core.WithEvents(func(core.Event) {})}},
		{"Lock/observer", false, []core.Option{core.WithObserver(core.ObserverFunc(func(context.Context, core.Event) {}))}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			op := acquireRelease(b, bc.try, bc.opts...)
			op() // connections and scripts in place
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				op()
			}
		})
	}
}

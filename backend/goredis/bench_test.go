package goredis_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

// BenchmarkTryLockFiveNodes measures TryLock+Unlock over five nodes, with
// all up and with one paused (SIGSTOP), in one run; it reports the median.
func BenchmarkTryLockFiveNodes(b *testing.B) {
	servers, l := benchLocker(b, 5, core.WithNodeTimeout(time.Second))
	run := func(b *testing.B) {
		ctx := context.Background()
		m := l.NewMutex("bench")
		took := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			if err := m.TryLock(ctx); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(start))
			if err := m.Unlock(ctx); err != nil {
				b.Fatal(err)
			}
		}
		slices.Sort(took)
		b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs/trylock")
	}
	b.Run("all-up", run)
	servers[4].Pause()
	defer servers[4].Resume()
	b.Run("one-paused", run)
}

// benchLocker starts n servers and returns them with a Locker over them.
func benchLocker(b *testing.B, n int, opts ...core.Option) ([]*conformance.Server, *core.Locker) {
	servers := conformance.Servers(b, n)
	var nodes []core.Node
	for _, s := range servers {
		nodes = append(nodes, harness{}.NewNode(b, s.Addr))
	}
	l, err := core.New(nodes, opts...)
	if err != nil {
		b.Fatal(err)
	}
	return servers, l
}

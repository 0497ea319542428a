package main

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

// BenchmarkUncontended is the loop of the uncontended latency figure as a
// Go benchmark, one sub-benchmark per contender and N, for profiling:
//
//	go test -run '^$' -bench 'Uncontended/redlock/goredis/N=3$' -benchmem \
//		-cpuprofile /tmp/cpu.out -memprofile /tmp/mem.out -o /tmp/bench.test
//	go tool pprof -top /tmp/bench.test /tmp/cpu.out
func BenchmarkUncontended(b *testing.B) {
	each(b, func(b *testing.B, l locks, name string) {
		h, err := l.handle(name)
		if err != nil {
			b.Fatal(err)
		}
		defer h.close()
		for b.Loop() {
			if err := acquireRelease(h); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkThroughput is the throughput figure as a Go benchmark: 64
// goroutines, each acquiring and releasing its own key.
func BenchmarkThroughput(b *testing.B) {
	each(b, func(b *testing.B, l locks, name string) {
		var next atomic.Int64
		b.SetParallelism((fullConfig.throughput + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			h, err := l.handle(fmt.Sprintf("%s:%d", name, next.Add(1)))
			if err != nil {
				b.Error(err)
				return
			}
			defer h.close()
			for pb.Next() {
				if err := acquireRelease(h); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// each runs fn for every contender at N = 1, 3 and 5 in both patterns, on
// servers started for the benchmark, with the contender opened and a fresh
// lock name. The fresh pattern's sub-benchmarks end in "/new", e.g.
// Uncontended/redlock/goredis/N=3/new.
func each(b *testing.B, fn func(b *testing.B, l locks, name string)) {
	cl, err := startCluster(5)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.stop)
	for _, c := range contenders() {
		for _, n := range []int{1, 3, 5} {
			if n > c.maxN {
				continue
			}
			for _, p := range patterns {
				sub := fmt.Sprintf("%s/N=%d", c.name, n)
				if p == fresh {
					sub += "/new"
				}
				b.Run(sub, func(b *testing.B) {
					l, err := c.open(cl.addrs(n))
					if err != nil {
						b.Fatal(err)
					}
					defer l.close()
					var in locks = l
					if p == fresh {
						in = freshLocks{l}
					}
					fn(b, in, fmt.Sprintf("bench:profile:%s", b.Name()))
				})
			}
		}
	}
}

func acquireRelease(h handle) error {
	ctx := context.Background()
	ok, err := h.try(ctx)
	if err == nil && !ok {
		err = fmt.Errorf("uncontended try refused")
	}
	if err != nil {
		return err
	}
	return h.release(ctx)
}

// BenchmarkContended is the contended figure as a Go benchmark: 16
// goroutines trying one key without waiting, releasing at once when they
// get it. It reports acquisitions per second besides the time per try.
func BenchmarkContended(b *testing.B) {
	each(b, func(b *testing.B, l locks, name string) {
		var acquired atomic.Int64
		b.SetParallelism((fullConfig.contended + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			h, err := l.handle(name)
			if err != nil {
				b.Error(err)
				return
			}
			defer h.close()
			ctx := context.Background()
			for pb.Next() {
				ok, err := h.try(ctx)
				if err == nil && ok {
					acquired.Add(1)
					err = h.release(ctx)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(acquired.Load())/b.Elapsed().Seconds(), "acquired/s")
	})
}

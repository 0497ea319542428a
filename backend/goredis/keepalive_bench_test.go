package goredis_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlock-go/redlock/backend/goredis"
	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

// pipelineCounter counts the pipelines a client sends.
type pipelineCounter struct{ n atomic.Int64 }

func (c *pipelineCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}
func (c *pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// BenchmarkKeepAlive10k holds 10,000 kept-alive locks on 3 nodes for a
// fixed window and reports the process CPU per held lock per second and the
// pipelined round trips per node per keep-alive period.
func BenchmarkKeepAlive10k(b *testing.B) {
	const (
		locks  = 10000
		ttl    = 3 * time.Second
		window = 2 * ttl
	)
	servers := conformance.Servers(b, 3)
	var nodes []core.Node
	counter := &pipelineCounter{}
	for _, s := range servers {
		client := redis.NewClient(&redis.Options{Addr: s.Addr, ContextTimeoutEnabled: true, PoolSize: 32})
		client.AddHook(counter)
		b.Cleanup(func() { client.Close() })
		nodes = append(nodes, goredis.NewNode(client))
	}
	l, err := core.New(nodes, core.WithTTL(ttl), core.WithKeepAlive(true), core.WithNodeTimeout(time.Second))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	mutexes := make([]*core.Mutex, locks)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < locks; i += 16 {
				m := l.NewMutex(fmt.Sprintf("job-%d", i))
				if err := m.Lock(ctx); err != nil {
					b.Error(err)
					return
				}
				mutexes[i] = m
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	b.ResetTimer()
	cpu0, pipes0 := cpuTime(), counter.n.Load()
	<-time.After(window) // the measured window: the locks are held and kept alive
	cpu, pipes := cpuTime()-cpu0, counter.n.Load()-pipes0
	b.StopTimer()
	for i, m := range mutexes {
		if err := m.Err(); err != nil {
			b.Fatalf("lock %d lost: %v", i, err)
		}
	}
	periods := float64(window) / float64(ttl/3)
	b.ReportMetric(float64(cpu.Microseconds())/locks/window.Seconds(), "cpu-µs/lock/s")
	b.ReportMetric(float64(pipes)/float64(len(nodes))/periods, "pipelines/node/period")
	for _, m := range mutexes {
		m.Unlock(ctx)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

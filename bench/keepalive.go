package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redlock-go/redlock/core"
)

// The keep-alive figure holds many locks at once with core.WithKeepAlive
// and measures what keeping them costs the client and the servers. It runs
// once, after the figures at every N, on keepNodes servers, for each
// backend of this library in turn.

const (
	keepNodes   = 3  // servers of the keep-alive figure
	keepPeriods = 3  // keep-alive periods the locks are held for
	keepWorkers = 64 // goroutines that acquire and release the locks
	keepSample  = 100
)

// keepResult is the keep-alive figure of one backend.
type keepResult struct {
	name         string
	n, locks     int
	ttl, period  time.Duration
	acquire      time.Duration // to acquire every lock
	window       time.Duration // the holding window measured
	held         int           // locks whose Err was nil after the window
	sampled      int           // keys checked on every server after the window
	found        int           // of those, the keys present on every server
	cpu          float64       // client CPU µs per held lock per second of the window
	calls        float64       // client calls (Eval, or one EvalBatch) per node per period
	scripts      float64       // script calls in those, per node per period
	evals        float64       // EVALSHA and EVAL the servers ran, per node per period
	commands     float64       // every command the servers ran, scripts' included, per node per period
	left         int           // keys left on the servers after the release and Locker.Wait
	acquireErrs  int           // failed TryLocks
	firstAcquire error
	releaseErrs  int // failed Unlocks
	firstRelease error
	waitErr      error // from Locker.Wait after the release
}

// keepalive measures the keep-alive figure for the backends among cs.
func (r *runner) keepalive(ctx context.Context, cs []contender) ([]*keepResult, error) {
	var out []*keepResult
	for _, b := range backends {
		if !slices.ContainsFunc(cs, func(c contender) bool { return c.name == b.name }) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		k, err := r.keepOne(ctx, b)
		if err != nil {
			return out, fmt.Errorf("%s: keep-alive: %w", b.name, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// keepOne acquires cfg.keepLocks locks with keep-alive in parallel, holds
// them for keepPeriods periods while it measures the process's CPU time,
// the calls of the nodes and the servers' commandstats, checks that every
// lock is still held and that a sample of keys is on every server, then
// releases them all and waits for the Locker's background calls.
func (r *runner) keepOne(ctx context.Context, b backend) (*keepResult, error) {
	cfg := r.cfg
	period := cfg.keepTTL / 3
	k := &keepResult{name: b.name, n: keepNodes, locks: cfg.keepLocks, ttl: cfg.keepTTL, period: period}
	if err := r.cluster.flush(keepNodes); err != nil {
		return nil, err
	}
	nodes, closeFn, err := b.nodes(r.cluster.addrs(keepNodes))
	if err != nil {
		return nil, err
	}
	defer closeFn()
	counted := make([]*countingNode, len(nodes))
	for i, n := range nodes {
		counted[i] = &countingNode{Node: n}
		nodes[i] = counted[i].node()
	}
	locker, err := core.New(nodes, core.WithTTL(cfg.keepTTL), core.WithKeepAlive(true))
	if err != nil {
		return nil, err
	}
	names := make([]string, cfg.keepLocks)
	for i := range names {
		names[i] = fmt.Sprintf("bench:keepalive:%s:%d", b.name, i)
	}

	// Fill the connection pools first, unmeasured, as an application
	// that has been running would have them.
	parallel(4*keepWorkers, func(i int) error {
		m := locker.NewMutex(fmt.Sprintf("bench:keepalive:warm:%d", i))
		if err := m.TryLock(ctx); err != nil {
			return err
		}
		return m.Unlock(ctx)
	})

	fmt.Fprintf(r.log, "keep-alive: %s, acquiring %d locks\n", b.name, cfg.keepLocks)
	mutexes := make([]*core.Mutex, len(names))
	start := time.Now()
	k.acquireErrs, k.firstAcquire = parallel(len(names), func(i int) error {
		m := locker.NewMutex(names[i])
		if err := m.TryLock(ctx); err != nil {
			return err
		}
		mutexes[i] = m
		return nil
	})
	k.acquire = time.Since(start)

	fmt.Fprintf(r.log, "keep-alive: %s, holding for %v\n", b.name, keepPeriods*period)
	runtime.GC()
	if err := r.cluster.resetStats(keepNodes); err != nil {
		return nil, err
	}
	for _, c := range counted {
		c.reset()
	}
	cpuBefore := cpuTime()
	start = time.Now()
	select {
	case <-time.After(keepPeriods * period):
	case <-ctx.Done():
	}
	cpuAfter := cpuTime()
	k.window = time.Since(start)
	var calls, scripts int64
	for _, c := range counted {
		calls += c.calls.Load()
		scripts += c.scripts.Load()
	}
	stats, err := r.cluster.commandStats(keepNodes)
	if err != nil {
		return nil, err
	}

	for _, m := range mutexes {
		if m != nil && m.Err() == nil {
			k.held++
		}
	}
	for i := 0; i < len(names); i += max(1, len(names)/keepSample) {
		if mutexes[i] == nil {
			continue
		}
		k.sampled++
		on := 0
		for _, s := range r.cluster.servers[:keepNodes] {
			if v, err := s.Do("EXISTS", core.Key(names[i])); err == nil && v == int64(1) {
				on++
			}
		}
		if on == keepNodes {
			k.found++
		}
	}
	held := k.held
	periods := k.window.Seconds() / period.Seconds()
	if held > 0 && cpuBefore > 0 {
		k.cpu = float64(cpuAfter-cpuBefore) / float64(time.Microsecond) / float64(held) / k.window.Seconds()
	}
	perNodePeriod := func(x int64) float64 { return float64(x) / keepNodes / periods }
	k.calls, k.scripts = perNodePeriod(calls), perNodePeriod(scripts)
	k.evals = perNodePeriod(stats["evalsha"] + stats["eval"])
	k.commands = perNodePeriod(sum(stats))

	fmt.Fprintf(r.log, "keep-alive: %s, releasing\n", b.name)
	k.releaseErrs, k.firstRelease = parallel(len(names), func(i int) error {
		if mutexes[i] == nil {
			return nil
		}
		return mutexes[i].Unlock(context.Background())
	})
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k.waitErr = locker.Wait(wctx)
	for _, s := range r.cluster.servers[:keepNodes] {
		v, err := s.Do("DBSIZE")
		if err != nil {
			return nil, err
		}
		if n, ok := v.(int64); ok {
			k.left += int(n)
		}
	}
	return k, nil
}

// parallel runs fn(i) for every i below n in keepWorkers goroutines, and
// returns how many calls failed and the first error.
func parallel(n int, fn func(i int) error) (errs int, first error) {
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range keepWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if errs == 0 {
						first = err
					}
					errs++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return errs, first
}

// countingNode counts the calls core makes to a node: client calls (an
// Eval, or an EvalBatch of many scripts) and the scripts in them.
type countingNode struct {
	core.Node
	calls, scripts atomic.Int64
}

func (n *countingNode) reset() {
	n.calls.Store(0)
	n.scripts.Store(0)
}

func (n *countingNode) Eval(ctx context.Context, script *core.Script, keys, args []string) (any, error) {
	n.calls.Add(1)
	n.scripts.Add(1)
	return n.Node.Eval(ctx, script, keys, args)
}

// node returns n as core should see it: a Batcher when the backend's node
// is one. Subscriber is not passed on; the figure never waits.
func (n *countingNode) node() core.Node {
	if b, ok := n.Node.(core.Batcher); ok {
		return countingBatcher{n, b}
	}
	return n
}

type countingBatcher struct {
	*countingNode
	b core.Batcher
}

func (n countingBatcher) EvalBatch(ctx context.Context, calls []core.Call) {
	n.calls.Add(1)
	n.scripts.Add(int64(len(calls)))
	n.b.EvalBatch(ctx, calls)
}

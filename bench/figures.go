package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// config sets how long each figure runs.
type config struct {
	ns         []int         // node counts
	passes     int           // round-robin passes over the contenders, per figure
	slice      time.Duration // one contender's turn in one pass
	handoffs   int           // hand-off samples per contender per pass
	countOps   int           // acquire+release pairs in the command count
	warmup     time.Duration // unmeasured load per contender before the figures
	throughput int           // goroutines on distinct keys
	contended  int           // goroutines on one key
	keepLocks  int           // locks held at once in the keep-alive figure
	keepTTL    time.Duration // their TTL; the keep-alive period is a third of it
}

var (
	fullConfig  = config{ns: []int{1, 3, 5}, passes: 7, slice: 250 * time.Millisecond, handoffs: 3, countOps: 200, warmup: 200 * time.Millisecond, throughput: 64, contended: 16, keepLocks: 100_000, keepTTL: 30 * time.Second}
	shortConfig = config{ns: []int{1, 3, 5}, passes: 3, slice: 100 * time.Millisecond, handoffs: 2, countOps: 100, warmup: 100 * time.Millisecond, throughput: 64, contended: 16, keepLocks: 2_000, keepTTL: 6 * time.Second}
)

// maxHold bounds the random time a holder keeps the lock before it
// releases in the hand-off figure; waitBound bounds one wait.
const (
	minHold   = 2 * time.Millisecond
	maxHold   = 102 * time.Millisecond
	waitBound = 5 * time.Second
)

// result is one contender's figures at one N in one pattern. Per-pass
// values are kept so that the report can take their medians.
type result struct {
	name    string
	kind    kind
	n       int
	pattern pattern

	p50, p99      []time.Duration // uncontended acquire+release, per pass
	allocs, bytes []float64       // per acquire+release, per pass
	cpu           []float64       // client CPU µs per acquire+release, per pass
	throughput    []float64       // ops/s of the throughput goroutines, per pass
	acquired      []float64       // acquisitions/s on one contended key, per pass
	failed        []float64       // failed tries/s on that key, per pass
	fairness      []float64       // Jain's index of the goroutines' acquisitions on that key, per pass
	contendedCmds []float64       // server commands per try on that key, per pass
	waited        []float64       // acquisitions/s on one key by goroutines that wait, per pass
	waitFairness  []float64       // Jain's index of those goroutines' acquisitions, per pass
	handoff       []time.Duration // every hand-off sample

	sent, scripted float64            // commands per acquire+release: sent by the client, run by scripts
	byName         map[string]float64 // commandstats per acquire+release, by command

	errs     int
	firstErr error
}

// label is the contender's name in the report: its name, suffixed for
// the fresh pattern.
func (r *result) label() string { return r.name + r.pattern.suffix() }

// fail records an error that the named figure met.
func (r *result) fail(figure string, err error) {
	if err == nil {
		return
	}
	if r.errs == 0 {
		r.firstErr = fmt.Errorf("%s: %w", figure, err)
	}
	r.errs++
}

// runner measures every contender at every N on one cluster.
type runner struct {
	cfg     config
	cluster *cluster
	log     io.Writer
	figures []string        // the figures to measure; all when empty
	samples []time.Duration // reused buffer for latency samples
}

// figureNames are the figures, as -figures names them: the ones measured
// at every N, then the keep-alive figure, which has a run of its own.
var figureNames = []string{"latency", "throughput", "contended", "waiting", "hand-off", "keepalive"}

// wants reports whether the figure called name is to be measured.
func (r *runner) wants(name string) bool {
	return len(r.figures) == 0 || slices.Contains(r.figures, name)
}

// opened is a contender opened at one N, in one pattern: holders, and a
// second, independent instance whose handles wait in the hand-off figure,
// as another process would. Both patterns of a contender share its two
// instances.
type opened struct {
	c       contender
	l, w    locks
	res     *result
	sliceNo int
}

// run measures the figures at every N, then the keep-alive figure.
func (r *runner) run(ctx context.Context, cs []contender) ([]*result, []*keepResult, error) {
	var all []*result
	perN := false
	for _, f := range figureNames[:len(figureNames)-1] {
		perN = perN || r.wants(f)
	}
	for _, n := range r.cfg.ns {
		if !perN {
			break
		}
		res, err := r.runN(ctx, n, cs)
		all = append(all, res...)
		if err != nil {
			return all, nil, err
		}
	}
	if !r.wants("keepalive") {
		return all, nil, nil
	}
	keep, err := r.keepalive(ctx, cs)
	return all, keep, err
}

func (r *runner) runN(ctx context.Context, n int, cs []contender) ([]*result, error) {
	addrs := r.cluster.addrs(n)
	if err := r.cluster.flush(n); err != nil {
		return nil, err
	}
	var opens []*opened
	var instances []locks
	defer func() {
		for _, l := range instances {
			l.close()
		}
	}()
	for _, c := range cs {
		if n > c.maxN {
			continue
		}
		l, err := c.open(addrs)
		if err != nil {
			return nil, fmt.Errorf("%s at N=%d: %w", c.name, n, err)
		}
		instances = append(instances, l)
		w, err := c.open(addrs)
		if err != nil {
			return nil, fmt.Errorf("%s at N=%d: %w", c.name, n, err)
		}
		instances = append(instances, w)
		for _, p := range patterns {
			o := &opened{c: c, l: l, w: w, res: &result{name: c.name, kind: c.kind, n: n, pattern: p}}
			if p == fresh {
				o.l, o.w = freshLocks{l}, freshLocks{w}
			}
			opens = append(opens, o)
		}
	}
	var results []*result
	for _, o := range opens {
		results = append(results, o.res)
	}

	fmt.Fprintf(r.log, "N=%d: warm-up\n", n)
	for _, o := range opens {
		if err := r.warm(o); err != nil {
			return results, fmt.Errorf("%s at N=%d: warm-up: %w", o.res.label(), n, err)
		}
	}

	figures := []struct {
		name string
		fn   func(o *opened)
	}{
		{"latency", r.latency},
		{"throughput", func(o *opened) { r.throughput(o, r.cfg.slice) }},
		{"contended", r.contended},
		{"waiting", r.waiting},
		{"hand-off", func(o *opened) { r.handoff(ctx, o) }},
	}
	for _, f := range figures {
		if !r.wants(f.name) {
			continue
		}
		for pass := range r.cfg.passes {
			if err := ctx.Err(); err != nil {
				return results, err
			}
			fmt.Fprintf(r.log, "N=%d: %s, pass %d/%d\n", n, f.name, pass+1, r.cfg.passes)
			for i := range opens {
				// Each pass starts with another contender, so that none is
				// always first after a GC or a slow neighbour.
				f.fn(opens[(i+pass)%len(opens)])
			}
		}
	}
	fmt.Fprintf(r.log, "N=%d: command counts\n", n)
	for _, o := range opens {
		if err := r.count(o); err != nil {
			return results, fmt.Errorf("%s at N=%d: command count: %w", o.res.label(), n, err)
		}
	}
	return results, nil
}

// warm fills the connection pools of both instances and loads their
// scripts, unmeasured: a throughput slice on the holders' instance, a few
// rounds on the waiters'. Only errors of the waiters' rounds count.
func (r *runner) warm(o *opened) error {
	measured := o.res
	o.res = &result{name: measured.name, kind: measured.kind, n: measured.n, pattern: measured.pattern}
	r.throughput(o, r.cfg.warmup)
	o.res = measured
	h, err := o.w.handle(r.name(o, "warm"))
	if err != nil {
		return err
	}
	defer h.close()
	ctx := context.Background()
	for range 10 {
		ok, err := h.try(ctx)
		if ok {
			err = h.release(ctx)
		} else if err == nil {
			err = fmt.Errorf("uncontended try refused")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// name returns a lock name no earlier slice used.
func (r *runner) name(o *opened, figure string) string {
	o.sliceNo++
	return fmt.Sprintf("bench:%s:%s:%d", figure, o.res.label(), o.sliceNo)
}

// latency runs acquire+release from one goroutine on one key for a slice,
// and records p50, p99, the allocations and the client CPU time per pair.
// The CPU time is the process's (getrusage: user and system) over the
// slice: the servers are processes of their own, and nothing else of the
// bench runs meanwhile.
func (r *runner) latency(o *opened) {
	ctx := context.Background()
	h, err := o.l.handle(r.name(o, "latency"))
	if err != nil {
		o.res.fail("latency", err)
		return
	}
	defer h.close()
	samples := r.samples[:0]
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cpuBefore := cpuTime()
	start := time.Now()
	for now := start; now.Sub(start) < r.cfg.slice && len(samples) < cap(samples); {
		ok, err := h.try(ctx)
		if ok {
			err = h.release(ctx)
		} else if err == nil {
			err = fmt.Errorf("uncontended try refused")
		}
		end := time.Now()
		if err != nil {
			o.res.fail("latency", err)
		} else {
			samples = append(samples, end.Sub(now))
		}
		now = end
	}
	cpuAfter := cpuTime()
	runtime.ReadMemStats(&after)
	if len(samples) == 0 {
		return
	}
	ops := float64(len(samples))
	o.res.allocs = append(o.res.allocs, float64(after.Mallocs-before.Mallocs)/ops)
	o.res.bytes = append(o.res.bytes, float64(after.TotalAlloc-before.TotalAlloc)/ops)
	if cpuBefore > 0 {
		o.res.cpu = append(o.res.cpu, float64(cpuAfter-cpuBefore)/float64(time.Microsecond)/ops)
	}
	slices.Sort(samples)
	o.res.p50 = append(o.res.p50, percentile(samples, 0.50))
	o.res.p99 = append(o.res.p99, percentile(samples, 0.99))
}

// loop runs body in g goroutines, each with its own handle from names,
// until d has passed, and returns the time it took.
func (r *runner) loop(o *opened, g int, d time.Duration, names func(i int) string, body func(h handle, stop *atomic.Bool)) (time.Duration, error) {
	handles := make([]handle, 0, g)
	defer func() {
		for _, h := range handles {
			h.close()
		}
	}()
	for i := range g {
		h, err := o.l.handle(names(i))
		if err != nil {
			return 0, err
		}
		handles = append(handles, h)
	}
	runtime.GC()
	var stop atomic.Bool
	var wg sync.WaitGroup
	begin := make(chan struct{})
	for _, h := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			body(h, &stop)
		}()
	}
	start := time.Now()
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	close(begin)
	wg.Wait()
	return time.Since(start), nil
}

// jain is Jain's fairness index of xs: 1 when every goroutine got the same
// share, 1/len(xs) when one got everything.
func jain(xs []int) float64 {
	var sum, squares float64
	for _, x := range xs {
		sum += float64(x)
		squares += float64(x) * float64(x)
	}
	if squares == 0 {
		return 0
	}
	return sum * sum / (float64(len(xs)) * squares)
}

// counters are per-goroutine tallies of a loop, summed after it.
type counters struct {
	mu          sync.Mutex
	ok, refused int
	each        []int // each goroutine's ok
	errs        int
	firstErr    error
}

// tally is one goroutine's share of counters.
type tally struct {
	ok, refused, errs int
	firstErr          error
}

func (t *tally) fail(err error) {
	if t.errs == 0 {
		t.firstErr = err
	}
	t.errs++
}

func (c *counters) add(t tally) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ok += t.ok
	c.each = append(c.each, t.ok)
	c.refused += t.refused
	if t.errs > 0 && c.errs == 0 {
		c.firstErr = t.firstErr
	}
	c.errs += t.errs
}

func (c *counters) report(figure string, res *result) {
	if c.errs > 0 {
		res.fail(figure, c.firstErr)
		res.errs += c.errs - 1
	}
}

// throughput runs acquire+release in many goroutines, each on its own key.
func (r *runner) throughput(o *opened, d time.Duration) {
	var c counters
	base := r.name(o, "throughput")
	elapsed, err := r.loop(o, r.cfg.throughput, d, func(i int) string { return fmt.Sprintf("%s:%d", base, i) }, func(h handle, stop *atomic.Bool) {
		ctx := context.Background()
		var t tally
		for !stop.Load() {
			acquired, err := h.try(ctx)
			if acquired {
				err = h.release(ctx)
			} else if err == nil {
				err = fmt.Errorf("uncontended try refused")
			}
			if err != nil {
				t.fail(err)
				continue
			}
			t.ok++
		}
		c.add(t)
	})
	o.res.fail("throughput", err)
	c.report("throughput", o.res)
	if elapsed > 0 {
		o.res.throughput = append(o.res.throughput, float64(c.ok)/elapsed.Seconds())
	}
}

// contended runs many goroutines on one key, each trying without waiting
// and releasing at once when it gets the lock.
func (r *runner) contended(o *opened) {
	var c counters
	name := r.name(o, "contended")
	n := len(r.cluster.addrs(o.res.n))
	if err := r.cluster.resetStats(n); err != nil {
		o.res.fail("contended", err)
		return
	}
	elapsed, err := r.loop(o, r.cfg.contended, r.cfg.slice, func(int) string { return name }, func(h handle, stop *atomic.Bool) {
		ctx := context.Background()
		var t tally
		for !stop.Load() {
			acquired, err := h.try(ctx)
			switch {
			case err != nil:
				t.fail(err)
			case acquired:
				t.ok++
				if err := h.release(ctx); err != nil {
					t.fail(err)
				}
			default:
				t.refused++
			}
		}
		c.add(t)
	})
	o.res.fail("contended", err)
	c.report("contended", o.res)
	stats, err := r.cluster.commandStats(n)
	if err != nil {
		o.res.fail("contended", err)
		return
	}
	if elapsed > 0 {
		o.res.acquired = append(o.res.acquired, float64(c.ok)/elapsed.Seconds())
		o.res.failed = append(o.res.failed, float64(c.refused)/elapsed.Seconds())
		if c.ok > 0 {
			o.res.fairness = append(o.res.fairness, jain(c.each))
		}
		if tries := c.ok + c.refused; tries > 0 {
			o.res.contendedCmds = append(o.res.contendedCmds, float64(sum(stats))/float64(tries))
		}
	}
}

// waiting runs many goroutines on one key, each acquiring the way its
// library waits (its retry policy, or notifications of release) and
// releasing at once when it gets the lock. The waits still running when the
// slice ends are cancelled.
func (r *runner) waiting(o *opened) {
	var c counters
	name := r.name(o, "waiting")
	elapsed, err := r.loop(o, r.cfg.contended, r.cfg.slice, func(int) string { return name }, func(h handle, stop *atomic.Bool) {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.slice)
		defer cancel()
		var t tally
		for !stop.Load() {
			err := h.wait(ctx)
			switch {
			case err == nil:
				t.ok++
				if err := h.release(context.Background()); err != nil {
					t.fail(err)
				}
			case ctx.Err() == nil:
				t.fail(err)
			}
		}
		c.add(t)
	})
	o.res.fail("waiting", err)
	c.report("waiting", o.res)
	if elapsed > 0 {
		o.res.waited = append(o.res.waited, float64(c.ok)/elapsed.Seconds())
		if c.ok > 0 {
			o.res.waitFairness = append(o.res.waitFairness, jain(c.each))
		}
	}
}

// handoff measures how long a waiting acquisition takes to return once
// the holder starts to release. The holder keeps the lock for a random
// time, so that the release falls anywhere in the waiter's retry cycle;
// the waiter is a handle of a second, independent instance.
func (r *runner) handoff(ctx context.Context, o *opened) {
	bg := context.Background()
	for range r.cfg.handoffs {
		if ctx.Err() != nil {
			return
		}
		name := r.name(o, "handoff")
		holder, err := o.l.handle(name)
		if err != nil {
			o.res.fail("hand-off", err)
			return
		}
		waiter, err := o.w.handle(name)
		if err != nil {
			holder.close()
			o.res.fail("hand-off", err)
			return
		}
		d, err := r.handoffOnce(bg, holder, waiter)
		holder.close()
		waiter.close()
		if err != nil {
			o.res.fail("hand-off", err)
			continue
		}
		o.res.handoff = append(o.res.handoff, d)
	}
}

func (r *runner) handoffOnce(ctx context.Context, holder, waiter handle) (time.Duration, error) {
	ok, err := holder.try(ctx)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("hand-off: holder refused on a fresh key")
	}
	type outcome struct {
		at  time.Time
		err error
	}
	acquired := make(chan outcome, 1)
	released := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, waitBound)
		defer cancel()
		err := waiter.wait(wctx)
		acquired <- outcome{time.Now(), err}
		if err == nil {
			err = waiter.release(ctx)
		}
		released <- err
	}()
	hold := time.NewTimer(minHold + rand.N(maxHold-minHold))
	<-hold.C
	start := time.Now()
	if err := holder.release(ctx); err != nil {
		<-released
		return 0, err
	}
	got := <-acquired
	if err := <-released; err != nil {
		return 0, err
	}
	if got.at.Before(start) {
		return 0, fmt.Errorf("hand-off: waiter acquired while the holder held the lock")
	}
	return got.at.Sub(start), nil
}

// count measures the commands of acquire+release: INFO commandstats for the
// servers' totals by command, MONITOR to tell the commands the client sent
// from those its scripts ran.
func (r *runner) count(o *opened) error {
	n := o.res.n
	h, err := o.l.handle(r.name(o, "count"))
	if err != nil {
		return err
	}
	defer h.close()
	mon, err := r.cluster.monitor(n)
	if err != nil {
		return err
	}
	if err := r.cluster.resetStats(n); err != nil {
		mon.close()
		return err
	}
	ctx := context.Background()
	for range r.cfg.countOps {
		ok, err := h.try(ctx)
		if ok {
			err = h.release(ctx)
		} else if err == nil {
			err = fmt.Errorf("uncontended try refused")
		}
		if err != nil {
			mon.close()
			return err
		}
	}
	stats, err := r.cluster.commandStats(n)
	if err != nil {
		mon.close()
		return err
	}
	sent, scripted, err := mon.result()
	if err != nil {
		return err
	}
	ops := float64(r.cfg.countOps)
	o.res.sent, o.res.scripted = float64(sent)/ops, float64(scripted)/ops
	o.res.byName = map[string]float64{}
	for name, calls := range stats {
		o.res.byName[name] = float64(calls) / ops
	}
	return nil
}

func sum(m map[string]int64) (total int64) {
	for _, v := range m {
		total += v
	}
	return total
}

// percentile returns the q-quantile of sorted samples (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// median returns the median of xs, or 0 when it is empty.
func median[T int | float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// env describes the run for the report's header.
type env struct {
	date, cpu, goVersion, redis string
	nproc, maxprocs             int
	modules                     []string // "path version" of the libraries measured
	mode                        string
	took                        time.Duration
	code                        string // the commit measured and whether the tree had changes
}

// measured are the modules whose versions the header lists.
var measured = []string{
	"github.com/redlock-go/redlock",
	"github.com/redlock-go/redlock/backend/goredis",
	"github.com/redlock-go/redlock/backend/redigo",
	"github.com/redlock-go/redlock/backend/rueidis",
	"github.com/redis/go-redis/v9",
	"github.com/gomodule/redigo",
	"github.com/redis/rueidis",
	"github.com/redis/rueidis/rueidiscompat",
	"github.com/go-redsync/redsync/v4",
	"github.com/bsm/redislock",
}

func describe(cl *cluster, cfg config, short bool, code string, took time.Duration) env {
	e := env{
		date:      time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		cpu:       cpuModel(),
		goVersion: runtime.Version(),
		redis:     cl.version(),
		nproc:     runtime.NumCPU(),
		maxprocs:  runtime.GOMAXPROCS(0),
		mode:      "full",
		took:      took,
		code:      code,
	}
	if short {
		e.mode = "-short"
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if !slices.Contains(measured, m.Path) {
				continue
			}
			v := m.Version
			if m.Replace != nil {
				v = "local " + m.Replace.Path
				if m.Replace.Version != "" {
					v = m.Replace.Version
				}
			}
			e.modules = append(e.modules, m.Path+" "+v)
		}
	}
	return e
}

// codeState names the commit of the working tree the bench was built from
// and the top-level paths with uncommitted changes, as git reports them.
// The bench reads it as it starts, right after it was built.
func codeState() string {
	head, err := exec.Command("git", "log", "-1", "--format=%h %cs").Output()
	if err != nil {
		return "unknown (no git)"
	}
	state := "commit " + strings.TrimSpace(string(head))
	status, err := exec.Command("git", "status", "--porcelain", "--untracked-files=all", "..").Output()
	if err != nil {
		return state
	}
	var changed []string
	for _, line := range strings.Split(strings.TrimRight(string(status), "\n"), "\n") {
		if len(line) < 4 {
			continue
		}
		path := strings.TrimPrefix(line[3:], "\"")
		if _, to, ok := strings.Cut(path, " -> "); ok {
			path = to
		}
		if dir, _, ok := strings.Cut(path, "/"); ok {
			path = dir + "/"
		}
		if !slices.Contains(changed, path) {
			changed = append(changed, path)
		}
	}
	if len(changed) == 0 {
		return state + ", clean working tree"
	}
	slices.Sort(changed)
	return state + ", with uncommitted changes in " + strings.Join(changed, ", ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// metric is one figure as the report shows it.
type metric struct {
	title   string
	value   func(r *result) float64 // the median; 0 when not measured
	higher  bool                    // higher is better
	noFloor bool                    // the floor has no meaningful value
}

var metrics = struct {
	p50, p99, cpu, throughput, acquired, waited, waitFairness, handoff, allocs metric
}{
	p50:        metric{title: "p50", value: func(r *result) float64 { return float64(median(r.p50)) }},
	p99:        metric{title: "p99", value: func(r *result) float64 { return float64(median(r.p99)) }},
	cpu:        metric{title: "CPU", value: func(r *result) float64 { return median(r.cpu) }},
	throughput: metric{title: "ops/s", value: func(r *result) float64 { return median(r.throughput) }, higher: true},
	acquired:   metric{title: "acq/s", value: func(r *result) float64 { return median(r.acquired) }, higher: true},
	waited:     metric{title: "waiting acq/s", value: func(r *result) float64 { return median(r.waited) }, higher: true, noFloor: true},
	handoff:    metric{title: "hand-off", value: func(r *result) float64 { return float64(median(r.handoff)) }},
	allocs:     metric{title: "allocs", value: func(r *result) float64 { return median(r.allocs) }, noFloor: true},

	waitFairness: metric{title: "waiting fairness", value: func(r *result) float64 { return median(r.waitFairness) }, higher: true},
}

// cost is value against ref as a cost ratio: above 1 is worse than ref,
// whichever way the metric points. It is NaN when either is missing.
func (m metric) cost(value, ref float64) float64 {
	if value <= 0 || ref <= 0 {
		return math.NaN()
	}
	if m.higher {
		return ref / value
	}
	return value / ref
}

// bestOf returns the result of the given kind among rs with the best
// value, nil if none was measured.
func (m metric) bestOf(rs []*result, k kind) *result {
	var best *result
	for _, r := range rs {
		v := m.value(r)
		if r.kind != k || v <= 0 {
			continue
		}
		if best == nil || (m.higher && v > m.value(best)) || (!m.higher && v < m.value(best)) {
			best = r
		}
	}
	return best
}

// best returns the best value among rs of the given kind, 0 if none.
func (m metric) best(rs []*result, k kind) float64 {
	if r := m.bestOf(rs, k); r != nil {
		return m.value(r)
	}
	return 0
}

// find returns the result called name in pattern p among rs, nil if none.
func find(rs []*result, name string, p pattern) *result {
	for _, r := range rs {
		if r.name == name && r.pattern == p {
			return r
		}
	}
	return nil
}

// ofPattern returns the results of rs in pattern p.
func ofPattern(rs []*result, p pattern) []*result {
	var out []*result
	for _, r := range rs {
		if r.pattern == p {
			out = append(out, r)
		}
	}
	return out
}

// byN groups results by node count, in run order.
func byN(cfg config, results []*result) [][]*result {
	var out [][]*result
	for _, n := range cfg.ns {
		var rs []*result
		for _, r := range results {
			if r.n == n {
				rs = append(rs, r)
			}
		}
		if len(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

func markdown(e env, cfg config, results []*result, keep []*keepResult, chartPath string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Benchmark results\n\n")
	command, run := "make bench", "go run ."
	if e.mode != "full" {
		command, run = "make bench-short", "go run . -short"
	}
	p("Written by `%s` (`%s` in bench/, %s run, %v). Read README.md for what each figure measures and how.\n\n", command, run, e.mode, e.took.Round(time.Second))
	p("- Code: %s\n", e.code)
	p("- Date: %s\n", e.date)
	p("- Machine: %d CPUs (nproc), GOMAXPROCS %d, %s, %s/%s\n", e.nproc, e.maxprocs, e.cpu, runtime.GOOS, runtime.GOARCH)
	p("- Go: %s; redis-server: %s, local processes on loopback, no persistence\n", e.goVersion, e.redis)
	p("- Run: %d passes per figure, round-robin over the contenders and patterns; %v per contender and pattern per pass; %d hand-off samples per contender and pattern per pass; TTL %v\n",
		cfg.passes, cfg.slice, cfg.handoffs, ttl)
	p("- Patterns: a contender's name alone is one handle per goroutine, reused for every acquisition; suffixed \"(new)\", a new handle for every acquisition, made inside the measured time\n")
	if len(keep) > 0 {
		p("- Keep-alive: %d locks with keep-alive, TTL %v, on %d servers, held for %d keep-alive periods (%v each)\n",
			cfg.keepLocks, cfg.keepTTL, keepNodes, keepPeriods, cfg.keepTTL/3)
	}
	p("- Libraries:\n")
	for _, m := range e.modules {
		p("  - `%s`\n", m)
	}
	p("\n")
	p("Ratios are costs: above 1.00 is worse than the reference, below is better, for every column ")
	p("(time divided by the reference's time; the reference's rate divided by the rate). ")
	p("\"floor\" is floor/socket at the same N; \"peer\" is the best of the other libraries at the same N in that column; both in the row's pattern. ")
	p("Every value is a median over the passes.\n\n")
	p("![p50, client CPU, throughput, contended acquisitions, hand-off, allocations and keep-alive per contender, pattern and N](%s)\n\n", chartPath)
	targetsSection(&b, cfg, results)

	for _, rs := range byN(cfg, results) {
		n := rs[0].n
		p("## N = %d (quorum %d)\n\n", n, quorum(n))
		ratio := func(m metric, r *result, ref float64) string {
			c := m.cost(m.value(r), ref)
			if math.IsNaN(c) {
				return "—"
			}
			return fmt.Sprintf("%.2f", c)
		}
		// floorRef is floor/socket's value in r's pattern.
		floorRef := func(m metric, r *result) float64 {
			if fl := find(rs, "floor/socket", r.pattern); fl != nil {
				return m.value(fl)
			}
			return 0
		}
		ms := []metric{metrics.p50, metrics.p99, metrics.cpu, metrics.throughput, metrics.acquired, metrics.waited, metrics.handoff, metrics.allocs}
		p("Ratios:\n\n| contender |")
		for _, m := range ms {
			if !m.noFloor {
				p(" %s ×floor |", m.title)
			}
			p(" %s ×peer |", m.title)
		}
		p("\n|---|")
		for _, m := range ms {
			if !m.noFloor {
				p("--:|")
			}
			p("--:|")
		}
		p("\n")
		for _, r := range rs {
			p("| %s |", r.label())
			for _, m := range ms {
				if !m.noFloor {
					p(" %s |", ratio(m, r, floorRef(m, r)))
				}
				p(" %s |", ratio(m, r, m.best(ofPattern(rs, r.pattern), peer)))
			}
			p("\n")
		}
		p("\nRaw medians:\n\n")
		p("| contender | p50 µs | p99 µs | CPU µs/op | ops/s, %d goroutines | acquisitions/s, %d trying one key | fairness | failed tries/s | acquisitions/s, %d waiting on one key | fairness | server cmds per try | hand-off ms | allocs/op | B/op | cmds sent/op | cmds in scripts/op | commandstats per op |\n",
			cfg.throughput, cfg.contended, cfg.contended)
		p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
		for _, r := range rs {
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				r.label(),
				micros(median(r.p50)), micros(median(r.p99)), num(median(r.cpu)),
				rate(median(r.throughput)), rate(median(r.acquired)), fraction(median(r.fairness)), rate(median(r.failed)),
				rate(median(r.waited)), fraction(median(r.waitFairness)),
				num(median(r.contendedCmds)),
				millis(median(r.handoff)),
				num(median(r.allocs)), num(median(r.bytes)),
				num(r.sent), num(r.scripted), commandMix(r.byName))
		}
		p("\n")
		cpuTable(&b, rs)
		listed := false
		for _, r := range rs {
			if r.errs > 0 {
				p("- %s: %d errors, first: `%v`\n", r.label(), r.errs, r.firstErr)
				listed = true
			}
		}
		if listed {
			p("\n")
		}
	}
	keepSection(&b, keep)
	return b.String()
}

// cpuTable writes the client CPU time per acquire+release of every
// contender at one N next to floor/goredis's in the same pattern.
func cpuTable(b *strings.Builder, rs []*result) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("Client CPU per acquire+release (process user+system time over the uncontended slices, median):\n\n")
	p("| contender | CPU µs/op | floor/goredis µs/op | ratio |\n|---|--:|--:|--:|\n")
	for _, r := range rs {
		fl := find(rs, "floor/goredis", r.pattern)
		ref, ratio := 0.0, "—"
		if fl != nil {
			ref = metrics.cpu.value(fl)
			if c := metrics.cpu.cost(metrics.cpu.value(r), ref); !math.IsNaN(c) {
				ratio = fmt.Sprintf("%.2f", c)
			}
		}
		p("| %s | %s | %s | %s |\n", r.label(), num(metrics.cpu.value(r)), num(ref), ratio)
	}
	p("\n")
}

// keepSection writes the keep-alive figure: what holding many locks with
// keep-alive costs the client and the servers, per backend.
func keepSection(b *strings.Builder, keep []*keepResult) {
	if len(keep) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	k0 := keep[0]
	p("## Keep-alive at scale\n\n")
	p("%d locks acquired by %d goroutines with `core.WithKeepAlive(true)`, TTL %v, on %d servers (quorum %d), ", k0.locks, keepWorkers, k0.ttl, k0.n, quorum(k0.n))
	p("then held for %d keep-alive periods of %v (TTL/3). ", keepPeriods, k0.period)
	p("CPU is the process's user+system time over the holding window, per held lock and second. ")
	p("Client calls are the calls core made to each node (an `Eval`, or one `EvalBatch` of many scripts); ")
	p("server commands are INFO commandstats over the window (EVALSHA/EVAL as sent, and every command, scripts' included). ")
	p("Held: locks whose `Err()` is nil after the window; keys: a sample of lock keys present on every server then; ")
	p("left: keys on the servers after every `Unlock` and `Locker.Wait`.\n\n")
	p("| backend | acquired in s | acquisitions/s | held | keys on every server | CPU µs per lock per s | client calls per node per period | scripts per node per period | EVALSHA per node per period | server commands per node per period | left |\n")
	p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, k := range keep {
		acqRate := 0.0
		if k.acquire > 0 {
			acqRate = float64(k.locks-k.acquireErrs) / k.acquire.Seconds()
		}
		p("| %s | %.1f | %s | %d/%d | %d/%d | %s | %s | %s | %s | %s | %d |\n",
			k.name, k.acquire.Seconds(), rate(acqRate), k.held, k.locks, k.found, k.sampled,
			num(k.cpu), num(k.calls), num(k.scripts), num(k.evals), num(k.commands), k.left)
	}
	p("\n")
	listed := false
	for _, k := range keep {
		if k.acquireErrs > 0 {
			p("- %s: %d failed acquisitions, first: `%v`\n", k.name, k.acquireErrs, k.firstAcquire)
			listed = true
		}
		if k.releaseErrs > 0 {
			p("- %s: %d failed releases, first: `%v`\n", k.name, k.releaseErrs, k.firstRelease)
			listed = true
		}
		if k.waitErr != nil {
			p("- %s: Locker.Wait: `%v`\n", k.name, k.waitErr)
			listed = true
		}
	}
	if listed {
		p("\n")
	}
}

func micros(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Microsecond))
}

func millis(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}

func rate(x float64) string {
	if x <= 0 {
		return "0"
	}
	return fmt.Sprintf("%.0f", x)
}

func num(x float64) string {
	switch {
	case x == 0:
		return "0"
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.2f", x)
}

// commandMix lists commandstats per op, most frequent first: "evalsha 2, del 1".
func commandMix(m map[string]float64) string {
	if len(m) == 0 {
		return "—"
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, len(names))
	for _, k := range names {
		if m[k] < 0.005 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s", k, num(m[k])))
	}
	return strings.Join(parts, ", ")
}

// fraction prints a value between 0 and 1, such as a fairness index.
func fraction(x float64) string {
	if x <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", x)
}

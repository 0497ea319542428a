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
	p50, p99, throughput, acquired, waited, handoff, allocs metric
}{
	p50:        metric{title: "p50", value: func(r *result) float64 { return float64(median(r.p50)) }},
	p99:        metric{title: "p99", value: func(r *result) float64 { return float64(median(r.p99)) }},
	throughput: metric{title: "ops/s", value: func(r *result) float64 { return median(r.throughput) }, higher: true},
	acquired:   metric{title: "acq/s", value: func(r *result) float64 { return median(r.acquired) }, higher: true},
	waited:     metric{title: "waiting acq/s", value: func(r *result) float64 { return median(r.waited) }, higher: true, noFloor: true},
	handoff:    metric{title: "hand-off", value: func(r *result) float64 { return float64(median(r.handoff)) }},
	allocs:     metric{title: "allocs", value: func(r *result) float64 { return median(r.allocs) }, noFloor: true},
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

// named returns the result called name among rs, nil if none.
func named(rs []*result, name string) *result {
	for _, r := range rs {
		if r.name == name {
			return r
		}
	}
	return nil
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

func markdown(e env, cfg config, results []*result, chartPath string) string {
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
	p("- Run: %d passes per figure, round-robin over the contenders; %v per contender per pass; %d hand-off samples per contender per pass; TTL %v\n",
		cfg.passes, cfg.slice, cfg.handoffs, ttl)
	p("- Libraries:\n")
	for _, m := range e.modules {
		p("  - `%s`\n", m)
	}
	p("\n")
	p("Ratios are costs: above 1.00 is worse than the reference, below is better, for every column ")
	p("(time divided by the reference's time; the reference's rate divided by the rate). ")
	p("\"floor\" is floor/socket at the same N; \"peer\" is the best of the other libraries at the same N in that column. ")
	p("Every value is a median over the passes.\n\n")
	p("![p50, throughput, contended acquisitions, hand-off and allocations per contender and N](%s)\n\n", chartPath)
	targetsSection(&b, cfg, results)

	for _, rs := range byN(cfg, results) {
		n := rs[0].n
		p("## N = %d (quorum %d)\n\n", n, quorum(n))
		fl := named(rs, "floor/socket")
		ratio := func(m metric, r *result, ref float64) string {
			c := m.cost(m.value(r), ref)
			if math.IsNaN(c) {
				return "—"
			}
			return fmt.Sprintf("%.2f", c)
		}
		floorRef := func(m metric) float64 {
			if fl == nil {
				return 0
			}
			return m.value(fl)
		}
		ms := []metric{metrics.p50, metrics.p99, metrics.throughput, metrics.acquired, metrics.waited, metrics.handoff, metrics.allocs}
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
			p("| %s |", r.name)
			for _, m := range ms {
				if !m.noFloor {
					p(" %s |", ratio(m, r, floorRef(m)))
				}
				p(" %s |", ratio(m, r, m.best(rs, peer)))
			}
			p("\n")
		}
		p("\nRaw medians:\n\n")
		p("| contender | p50 µs | p99 µs | ops/s, %d goroutines | acquisitions/s, %d trying one key | fairness | failed tries/s | acquisitions/s, %d waiting on one key | fairness | server cmds per try | hand-off ms | allocs/op | B/op | cmds sent/op | cmds in scripts/op | commandstats per op |\n",
			cfg.throughput, cfg.contended, cfg.contended)
		p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
		for _, r := range rs {
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				r.name,
				micros(median(r.p50)), micros(median(r.p99)),
				rate(median(r.throughput)), rate(median(r.acquired)), fraction(median(r.fairness)), rate(median(r.failed)),
				rate(median(r.waited)), fraction(median(r.waitFairness)),
				num(median(r.contendedCmds)),
				millis(median(r.handoff)),
				num(median(r.allocs)), num(median(r.bytes)),
				num(r.sent), num(r.scripted), commandMix(r.byName))
		}
		p("\n")
		listed := false
		for _, r := range rs {
			if r.errs > 0 {
				p("- %s: %d errors, first: `%v`\n", r.name, r.errs, r.firstErr)
				listed = true
			}
		}
		if listed {
			p("\n")
		}
	}
	return b.String()
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

package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// goal is one performance target of this library, stated against a
// reference measured in the same run: a bound on the ratio of a
// contender's value to the reference's value at one N.
type goal struct {
	figure string // the figure it belongs to, as the report names it
	text   string // what is compared, for the report
	metric metric
	// applies reports whether the goal is checked for r.
	applies func(r *result) bool
	// bound is the bound on the ratio at n; 0 when the goal does not
	// check that N.
	bound func(n int) float64
	// atMost: the ratio must be at most the bound; otherwise at least.
	atMost bool
	// reference returns the result r is compared with among rs, the
	// results at r's N, or nil when it was not measured.
	reference func(rs []*result, r *result) *result
	// against names the reference in the report.
	against string
}

// contendedBound: at least as many contended acquisitions as rueidislock,
// at N = 3 and 5.
func contendedBound(n int) float64 {
	if n >= 3 {
		return 1.00
	}
	return 0
}

// goals are the performance targets, in report order.
var goals = []goal{
	{
		figure:  "Uncontended latency",
		text:    "p50 of acquire+release, each backend over floor/goredis",
		metric:  metrics.p50,
		applies: func(r *result) bool { return r.kind == ours },
		bound: func(n int) float64 {
			if n == 1 {
				return 1.15
			}
			return 1.10
		},
		atMost:    true,
		reference: func(rs []*result, _ *result) *result { return named(rs, "floor/goredis") },
		against:   "floor/goredis",
	},
	{
		figure:  "Throughput",
		text:    "ops/s of redlock/rueidis over the best peer's",
		metric:  metrics.throughput,
		applies: func(r *result) bool { return r.name == "redlock/rueidis" },
		bound: func(n int) float64 {
			if n >= 3 {
				return 1.20
			}
			return 0
		},
		reference: func(rs []*result, _ *result) *result { return metrics.throughput.bestOf(rs, peer) },
		against:   "best peer",
	},
	{
		figure:  "Contended, trying",
		text:    "acquisitions/s of goroutines trying one key, each backend over rueidislock's",
		metric:  metrics.acquired,
		applies: func(r *result) bool { return r.kind == ours },
		bound:   contendedBound,
		reference: func(rs []*result, _ *result) *result {
			return named(rs, "rueidislock")
		},
		against: "rueidislock",
	},
	{
		figure:  "Contended, waiting",
		text:    "acquisitions/s of goroutines waiting on one key (Lock), each backend over rueidislock's",
		metric:  metrics.waited,
		applies: func(r *result) bool { return r.kind == ours },
		bound:   contendedBound,
		reference: func(rs []*result, _ *result) *result {
			return named(rs, "rueidislock")
		},
		against: "rueidislock",
	},
	{
		figure:  "Allocations",
		text:    "allocations per acquire+release, each backend over redsync's with the same client",
		metric:  metrics.allocs,
		applies: func(r *result) bool { return r.kind == ours },
		bound:   func(int) float64 { return 0.50 },
		atMost:  true,
		reference: func(rs []*result, r *result) *result {
			return named(rs, "redsync/"+strings.TrimPrefix(r.name, "redlock/"))
		},
		against: "redsync, same client",
	},
}

// op is the comparison the ratio must pass.
func (g *goal) op() string {
	if g.atMost {
		return "≤"
	}
	return "≥"
}

// check is one goal checked on one contender at one N.
type check struct {
	goal  *goal
	r     *result
	ref   *result // nil when the reference was not measured
	bound float64
	ratio float64 // the contender's value over the reference's; NaN when either is missing
}

// met reports whether the measured ratio is within the bound. A ratio
// that was not measured is not met.
func (c check) met() bool {
	if math.IsNaN(c.ratio) {
		return false
	}
	if c.goal.atMost {
		return c.ratio <= c.bound
	}
	return c.ratio >= c.bound
}

// verdict is the ratio and its outcome for the report: "1.07 met".
func (c check) verdict() string {
	if math.IsNaN(c.ratio) {
		return "not measured"
	}
	if c.met() {
		return fmt.Sprintf("%.2f met", c.ratio)
	}
	return fmt.Sprintf("%.2f missed", c.ratio)
}

// checks returns g checked on every result it applies to, in run order.
func (g *goal) checks(cfg config, results []*result) []check {
	var out []check
	for _, rs := range byN(cfg, results) {
		for _, r := range rs {
			b := g.bound(r.n)
			if b == 0 || !g.applies(r) {
				continue
			}
			c := check{goal: g, r: r, ref: g.reference(rs, r), bound: b, ratio: math.NaN()}
			if c.ref != nil {
				if v, ref := g.metric.value(r), g.metric.value(c.ref); v > 0 && ref > 0 {
					c.ratio = v / ref
				}
			}
			out = append(out, c)
		}
	}
	return out
}

// targetsSection writes the report's Targets section: per goal, a table
// of contenders by N with each ratio and whether it meets its bound.
func targetsSection(b *strings.Builder, cfg config, results []*result) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## Targets\n\n")
	p("Each target is a ratio to a reference measured in the same run (value of the contender divided by the reference's; ")
	p("for throughput, higher is better, for the others lower is better).\n\n")
	met, total := 0, 0
	for i := range goals {
		g := &goals[i]
		cs := g.checks(cfg, results)
		if len(cs) == 0 {
			continue
		}
		var ns []int
		var names []string
		for _, c := range cs {
			if !slices.Contains(ns, c.r.n) {
				ns = append(ns, c.r.n)
			}
			if !slices.Contains(names, c.r.name) {
				names = append(names, c.r.name)
			}
		}
		p("**%s**: %s.\n\n| contender |", g.figure, g.text)
		for _, n := range ns {
			p(" N = %d (%s %.2f) |", n, g.op(), g.bound(n))
		}
		p("\n|---|")
		for range ns {
			p("---|")
		}
		p("\n")
		for _, name := range names {
			var row []check
			for _, c := range cs {
				if c.r.name == name {
					row = append(row, c)
				}
			}
			// The reference goes in the row's label when it is one
			// contender for the whole row, in each cell otherwise.
			rowRef := ""
			if ref := row[0].ref; ref != nil && ref.name != g.against {
				rowRef = ref.name
				for _, c := range row {
					if c.ref == nil || c.ref.name != rowRef {
						rowRef = ""
					}
				}
			}
			if rowRef != "" {
				p("| %s vs %s |", name, rowRef)
			} else {
				p("| %s |", name)
			}
			for _, n := range ns {
				cell := "—"
				for _, c := range row {
					if c.r.n != n {
						continue
					}
					cell = c.verdict()
					if rowRef == "" && c.ref != nil && c.ref.name != g.against {
						cell += fmt.Sprintf(" (vs %s)", c.ref.name)
					}
					total++
					if c.met() {
						met++
					}
				}
				p(" %s |", cell)
			}
			p("\n")
		}
		p("\n")
	}
	p("Met %d of %d.\n\n", met, total)
}

package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// goal is one performance target of this library, stated against a
// reference measured in the same run and the same pattern: a bound on the
// ratio of a contender's value to the reference's value at one N, or on
// the value itself when the goal has no reference.
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
	// results of r's pattern at r's N, or nil when it was not measured.
	// A goal without reference bounds the value itself.
	reference func(rs []*result, r *result) *result
	// against names the reference in the report.
	against string
}

// everyN is a bound checked at every N.
func everyN(b float64) func(int) float64 { return func(int) float64 { return b } }

// from3 is a bound checked at N = 3 and 5 only.
func from3(b float64) func(int) float64 {
	return func(n int) float64 {
		if n >= 3 {
			return b
		}
		return 0
	}
}

// isOurs: the goal applies to every backend of this library.
func isOurs(r *result) bool { return r.kind == ours }

// byName returns the reference called name.
func byName(name string) func(rs []*result, r *result) *result {
	return func(rs []*result, r *result) *result { return find(rs, name, r.pattern) }
}

// redsyncSameClient returns redsync with the client of r's backend.
func redsyncSameClient(rs []*result, r *result) *result {
	return find(rs, "redsync/"+strings.TrimPrefix(r.name, "redlock/"), r.pattern)
}

// goals are the performance targets, in report order. Where the goals of
// issue 5 and 6 name no N, a goal is checked at every N.
var goals = []goal{
	{
		figure:  "Uncontended latency",
		text:    "p50 of acquire+release, each backend over floor/goredis",
		metric:  metrics.p50,
		applies: isOurs,
		bound: func(n int) float64 {
			if n == 1 {
				return 1.15
			}
			return 1.10
		},
		atMost:    true,
		reference: byName("floor/goredis"),
		against:   "floor/goredis",
	},
	{
		figure:    "Client CPU",
		text:      "process CPU time per acquire+release in the uncontended loop, each backend over floor/goredis",
		metric:    metrics.cpu,
		applies:   isOurs,
		bound:     everyN(1.30),
		atMost:    true,
		reference: byName("floor/goredis"),
		against:   "floor/goredis",
	},
	{
		figure:    "Throughput",
		text:      "ops/s of redlock/rueidis over the best peer's",
		metric:    metrics.throughput,
		applies:   func(r *result) bool { return r.name == "redlock/rueidis" },
		bound:     from3(1.20),
		reference: func(rs []*result, _ *result) *result { return metrics.throughput.bestOf(rs, peer) },
		against:   "best peer",
	},
	{
		figure:    "Throughput, same client",
		text:      "ops/s of redlock/goredis and redlock/redigo over redsync's with the same client",
		metric:    metrics.throughput,
		applies:   func(r *result) bool { return r.name == "redlock/goredis" || r.name == "redlock/redigo" },
		bound:     everyN(1.00),
		reference: redsyncSameClient,
		against:   "redsync, same client",
	},
	{
		figure:    "Contended, trying",
		text:      "acquisitions/s of goroutines trying one key, each backend over rueidislock's",
		metric:    metrics.acquired,
		applies:   isOurs,
		bound:     from3(1.00),
		reference: byName("rueidislock"),
		against:   "rueidislock",
	},
	{
		figure:    "Contended, waiting",
		text:      "acquisitions/s of goroutines waiting on one key (Lock), each backend over rueidislock's",
		metric:    metrics.waited,
		applies:   isOurs,
		bound:     everyN(2.00),
		reference: byName("rueidislock"),
		against:   "rueidislock",
	},
	{
		figure:  "Waiting fairness",
		text:    "Jain's index of the acquisitions of the goroutines waiting on one key, each backend (a value, not a ratio)",
		metric:  metrics.waitFairness,
		applies: isOurs,
		bound:   everyN(0.95),
	},
	{
		figure:    "Allocations",
		text:      "allocations per acquire+release, each backend over redsync's with the same client",
		metric:    metrics.allocs,
		applies:   isOurs,
		bound:     everyN(0.50),
		atMost:    true,
		reference: redsyncSameClient,
		against:   "redsync, same client",
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
	ref   *result // nil when the reference was not measured, or the goal has none
	bound float64
	ratio float64 // the contender's value over the reference's (the value, without reference); NaN when missing
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
			c := check{goal: g, r: r, bound: b, ratio: math.NaN()}
			v := g.metric.value(r)
			switch {
			case g.reference == nil:
				if v > 0 {
					c.ratio = v
				}
			default:
				c.ref = g.reference(ofPattern(rs, r.pattern), r)
				if c.ref != nil {
					if ref := g.metric.value(c.ref); v > 0 && ref > 0 {
						c.ratio = v / ref
					}
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
	p("Each target is a ratio to a reference measured in the same run and the same pattern (value of the contender divided by the reference's; ")
	p("for rates, higher is better, for costs lower is better), except fairness, which bounds the value itself. ")
	p("Both patterns are checked: a row suffixed \"(new)\" makes a new handle for every acquisition, and is compared with its reference doing the same.\n\n")
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
			if !slices.Contains(names, c.r.label()) {
				names = append(names, c.r.label())
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
				if c.r.label() == name {
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

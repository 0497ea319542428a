package main

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// fixture returns results at N = 1 and 3 in both patterns with round
// numbers, so that every ratio of the targets is known. The fresh
// pattern's values are the reused ones with every cost doubled and every
// rate halved: its ratios are the same only if each is taken against a
// reference of its own pattern.
func fixture() (config, []*result) {
	cfg := config{ns: []int{1, 3}}
	type values struct {
		p50                              time.Duration
		cpu, ops, allocs, acquired, wait float64
		fairness                         float64
	}
	mk := func(name string, k kind, n int, p pattern, v values) *result {
		cost, rate := 1.0, 1.0
		if p == fresh {
			cost, rate = 2, 0.5
		}
		return &result{name: name, kind: k, n: n, pattern: p,
			p50: []time.Duration{time.Duration(cost) * v.p50}, cpu: []float64{cost * v.cpu},
			throughput: []float64{rate * v.ops}, allocs: []float64{cost * v.allocs},
			acquired: []float64{rate * v.acquired}, waited: []float64{rate * v.wait},
			waitFairness: []float64{v.fairness}}
	}
	var rs []*result
	for _, n := range cfg.ns {
		for _, p := range patterns {
			rs = append(rs,
				mk("redlock/goredis", ours, n, p, values{110 * time.Microsecond, 12, 1600, 20, 900, 2000, 0.99}),
				mk("redlock/rueidis", ours, n, p, values{120 * time.Microsecond, 14, 2400, 30, 1100, 2400, 0.90}),
				mk("redsync/goredis", peer, n, p, values{200 * time.Microsecond, 20, 1500, 40, 300, 100, 0.30}),
				mk("redsync/rueidis", peer, n, p, values{200 * time.Microsecond, 20, 2000, 50, 300, 100, 0.30}),
				mk("rueidislock", peer, n, p, values{300 * time.Microsecond, 30, 1800, 60, 1000, 1000, 0.70}),
				mk("floor/goredis", floor, n, p, values{100 * time.Microsecond, 10, 3000, 10, 400, 400, 0.90}),
			)
		}
	}
	return cfg, rs
}

func TestGoalChecks(t *testing.T) {
	cfg, rs := fixture()
	type want struct {
		name  string
		n     int
		ratio float64
		met   bool
	}
	cases := []struct {
		figure string
		want   []want // reused pattern; the fresh one must be the same
	}{
		{"Uncontended latency", []want{
			{"redlock/goredis", 1, 1.10, true}, // bound 1.15 at N = 1
			{"redlock/rueidis", 1, 1.20, false},
			{"redlock/goredis", 3, 1.10, true}, // bound 1.10 at N = 3
			{"redlock/rueidis", 3, 1.20, false},
		}},
		{"Client CPU", []want{
			{"redlock/goredis", 1, 1.20, true},
			{"redlock/rueidis", 1, 1.40, false},
			{"redlock/goredis", 3, 1.20, true},
			{"redlock/rueidis", 3, 1.40, false},
		}},
		{"Throughput", []want{
			{"redlock/rueidis", 3, 1.20, true}, // not checked at N = 1; best peer 2000
		}},
		{"Throughput, same client", []want{
			{"redlock/goredis", 1, 1600.0 / 1500, true},
			{"redlock/goredis", 3, 1600.0 / 1500, true},
		}},
		{"Contended, trying", []want{ // not checked at N = 1
			{"redlock/goredis", 3, 0.90, false},
			{"redlock/rueidis", 3, 1.10, true},
		}},
		{"Contended, waiting", []want{
			{"redlock/goredis", 1, 2.00, true},
			{"redlock/rueidis", 1, 2.40, true},
			{"redlock/goredis", 3, 2.00, true},
			{"redlock/rueidis", 3, 2.40, true},
		}},
		{"Waiting fairness", []want{ // the value itself
			{"redlock/goredis", 1, 0.99, true},
			{"redlock/rueidis", 1, 0.90, false},
			{"redlock/goredis", 3, 0.99, true},
			{"redlock/rueidis", 3, 0.90, false},
		}},
		{"Allocations", []want{
			{"redlock/goredis", 1, 0.50, true},
			{"redlock/rueidis", 1, 0.60, false},
			{"redlock/goredis", 3, 0.50, true},
			{"redlock/rueidis", 3, 0.60, false},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.figure, func(t *testing.T) {
			g := goalOf(tc.figure)
			if g == nil {
				t.Fatalf("no goal for %q", tc.figure)
			}
			cs := g.checks(cfg, rs)
			if len(cs) != 2*len(tc.want) {
				t.Fatalf("%d checks, want %d", len(cs), 2*len(tc.want))
			}
			i := 0
			for _, n := range cfg.ns {
				for _, p := range patterns {
					for _, w := range tc.want {
						if w.n != n {
							continue
						}
						c := cs[i]
						i++
						if c.r.name != w.name || c.r.n != w.n || c.r.pattern != p {
							t.Errorf("check %d is %s at N=%d, want %s at N=%d", i-1, c.r.label(), c.r.n, w.name+p.suffix(), w.n)
						}
						if c.ref != nil && c.ref.pattern != p {
							t.Errorf("%s at N=%d: reference %s is of another pattern", c.r.label(), w.n, c.ref.label())
						}
						if math.Abs(c.ratio-w.ratio) > 1e-9 || c.met() != w.met {
							t.Errorf("%s at N=%d: ratio %.3f met %v, want %.3f met %v", c.r.label(), w.n, c.ratio, c.met(), w.ratio, w.met)
						}
					}
				}
			}
		})
	}
}

func TestGoalNotMeasured(t *testing.T) {
	cfg, rs := fixture()
	var without []*result
	for _, r := range rs {
		if r.name != "floor/goredis" {
			without = append(without, r)
		}
		if r.name == "redlock/goredis" {
			r.waitFairness = nil
		}
	}
	for _, figure := range []string{"Uncontended latency", "Client CPU"} {
		for _, c := range goalOf(figure).checks(cfg, without) {
			if c.met() || c.verdict() != "not measured" {
				t.Errorf("%s: %s at N=%d without its reference: met %v, verdict %q", figure, c.r.label(), c.r.n, c.met(), c.verdict())
			}
		}
	}
	for _, c := range goalOf("Waiting fairness").checks(cfg, without) {
		if measured := c.r.name != "redlock/goredis"; measured != (c.verdict() != "not measured") {
			t.Errorf("fairness of %s at N=%d: verdict %q", c.r.label(), c.r.n, c.verdict())
		}
	}
}

func TestTargetsSection(t *testing.T) {
	cfg, rs := fixture()
	var b strings.Builder
	targetsSection(&b, cfg, rs)
	for _, want := range []string{
		"| redlock/goredis | 1.10 met | 1.10 met |",
		"| redlock/goredis (new) | 1.10 met | 1.10 met |",
		"| redlock/rueidis | 1.20 missed | 1.20 missed |",
		"| redlock/rueidis vs redsync/rueidis | 1.20 met |",
		"| redlock/rueidis (new) vs redsync/rueidis | 1.20 met |",
		"| redlock/goredis vs redsync/goredis | 1.07 met | 1.07 met |",
		"| redlock/rueidis vs redsync/rueidis | 0.60 missed | 0.60 missed |",
		"| redlock/goredis | 0.90 missed |",
		"| redlock/rueidis | 0.90 missed | 0.90 missed |",
		"Met 32 of 50.",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Targets section lacks %q:\n%s", want, b.String())
		}
	}
}

// fakeLocks counts the handles it makes and closes; its handles get the
// lock when grant is set.
type fakeLocks struct {
	made, closed int
	grant        bool
}

func (f *fakeLocks) handle(string) (handle, error) { f.made++; return fakeHandle{f}, nil }
func (f *fakeLocks) close()                        {}

type fakeHandle struct{ f *fakeLocks }

func (h fakeHandle) try(context.Context) (bool, error) { return h.f.grant, nil }
func (h fakeHandle) release(context.Context) error     { return nil }
func (h fakeHandle) wait(context.Context) error        { return nil }
func (h fakeHandle) close()                            { h.f.closed++ }

func TestFreshHandle(t *testing.T) {
	ctx := context.Background()
	f := &fakeLocks{grant: true}
	h, _ := freshLocks{f}.handle("k")
	for i := 1; i <= 3; i++ {
		if ok, err := h.try(ctx); !ok || err != nil {
			t.Fatalf("try %d: %v %v", i, ok, err)
		}
		if f.made != i || f.closed != i-1 {
			t.Fatalf("after try %d: %d handles made, %d closed", i, f.made, f.closed)
		}
		if err := h.release(ctx); err != nil {
			t.Fatal(err)
		}
		if f.closed != i {
			t.Fatalf("after release %d: %d handles closed", i, f.closed)
		}
	}
	f.grant = false
	if ok, _ := h.try(ctx); ok || f.made != 4 || f.closed != 4 {
		t.Fatalf("refused try: ok %v, %d handles made, %d closed", ok, f.made, f.closed)
	}
	if err := h.wait(ctx); err != nil || f.made != 5 {
		t.Fatalf("wait: %v, %d handles made", err, f.made)
	}
	if err := h.release(ctx); err != nil || f.closed != 5 {
		t.Fatalf("release after wait: %v, %d handles closed", err, f.closed)
	}
}

package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

// fixture returns results at N = 1 and 3 with round numbers, so that every
// ratio of the targets is known.
func fixture() (config, []*result) {
	cfg := config{ns: []int{1, 3}}
	mk := func(name string, k kind, n int, p50 time.Duration, ops, allocs, acquired, waited float64) *result {
		return &result{name: name, kind: k, n: n,
			p50: []time.Duration{p50}, throughput: []float64{ops}, allocs: []float64{allocs},
			acquired: []float64{acquired}, waited: []float64{waited}}
	}
	var rs []*result
	for _, n := range cfg.ns {
		rs = append(rs,
			mk("redlock/goredis", ours, n, 110*time.Microsecond, 1000, 20, 900, 2000),
			mk("redlock/rueidis", ours, n, 120*time.Microsecond, 2400, 30, 1100, 2400),
			mk("redsync/goredis", peer, n, 200*time.Microsecond, 1500, 40, 300, 100),
			mk("redsync/rueidis", peer, n, 200*time.Microsecond, 2000, 50, 300, 100),
			mk("rueidislock", peer, n, 300*time.Microsecond, 1800, 60, 1000, 2000),
			mk("floor/goredis", floor, n, 100*time.Microsecond, 3000, 10, 400, 400),
		)
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
		want   []want
	}{
		{"Uncontended latency", []want{
			{"redlock/goredis", 1, 1.10, true}, // bound 1.15 at N = 1
			{"redlock/rueidis", 1, 1.20, false},
			{"redlock/goredis", 3, 1.10, true}, // bound 1.10 at N = 3
			{"redlock/rueidis", 3, 1.20, false},
		}},
		{"Throughput", []want{
			{"redlock/rueidis", 3, 1.20, true}, // not checked at N = 1; best peer 2000
		}},
		{"Contended, trying", []want{ // not checked at N = 1
			{"redlock/goredis", 3, 0.90, false},
			{"redlock/rueidis", 3, 1.10, true},
		}},
		{"Contended, waiting", []want{
			{"redlock/goredis", 3, 1.00, true},
			{"redlock/rueidis", 3, 1.20, true},
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
			if len(cs) != len(tc.want) {
				t.Fatalf("%d checks, want %d", len(cs), len(tc.want))
			}
			for i, w := range tc.want {
				c := cs[i]
				if c.r.name != w.name || c.r.n != w.n {
					t.Errorf("check %d is %s at N=%d, want %s at N=%d", i, c.r.name, c.r.n, w.name, w.n)
				}
				if math.Abs(c.ratio-w.ratio) > 1e-9 || c.met() != w.met {
					t.Errorf("%s at N=%d: ratio %.3f met %v, want %.3f met %v", w.name, w.n, c.ratio, c.met(), w.ratio, w.met)
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
	}
	for _, c := range goalOf("Uncontended latency").checks(cfg, without) {
		if c.met() || c.verdict() != "not measured" {
			t.Errorf("%s at N=%d without its reference: met %v, verdict %q", c.r.name, c.r.n, c.met(), c.verdict())
		}
	}
}

func TestTargetsSection(t *testing.T) {
	cfg, rs := fixture()
	var b strings.Builder
	targetsSection(&b, cfg, rs)
	for _, want := range []string{
		"| redlock/goredis | 1.10 met | 1.10 met |",
		"| redlock/rueidis | 1.20 missed | 1.20 missed |",
		"| redlock/rueidis vs redsync/rueidis | 1.20 met |",
		"| redlock/rueidis vs redsync/rueidis | 0.60 missed | 0.60 missed |",
		"| redlock/goredis | 0.90 missed |",
		"Met 8 of 13.",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Targets section lacks %q:\n%s", want, b.String())
		}
	}
}

package faults

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// driver injects faults into a cluster on a schedule: it crashes (SIGKILL)
// and restarts servers, pauses them (SIGSTOP), partitions clients from
// servers, adds latency and drops connections. One goroutine runs it; its
// ticker is the campaign's clock, not a way to wait for anything.
//
// At most a minority of servers is out at once (crashed, paused, rejoining
// or partitioned from some client), so that a quorum stays reachable and
// the clients keep making progress; latency and dropped connections strike
// any server.
type driver struct {
	t       testing.TB
	c       *cluster
	rng     *rand.Rand
	every   time.Duration // the tick
	rejoin  time.Duration // how long a restarted server stays partitioned off; 0: rejoins at once
	maxOut  int
	ttl     time.Duration
	counts  map[string]int
	kills   []time.Time // when servers were crashed
	out     []bool      // server i is crashed, paused, rejoining or partitioned
	slow    []bool      // server i has latency
	pending []event
}

type event struct {
	at time.Time
	do func()
}

func newDriver(t testing.TB, c *cluster, seed uint64, ttl, rejoin time.Duration) *driver {
	n := len(c.servers)
	return &driver{
		t: t, c: c, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		every: 100 * time.Millisecond, rejoin: rejoin, maxOut: (n - 1) / 2, ttl: ttl,
		counts: make(map[string]int), out: make([]bool, n), slow: make([]bool, n),
	}
}

// run injects faults until ctx ends, then heals everything: every server
// runs, every proxy passes traffic without latency.
func (d *driver) run(ctx context.Context) {
	tick := time.NewTicker(d.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			d.healAll()
			return
		case now := <-tick.C:
			d.fire(now)
			if d.rng.IntN(2) == 0 {
				d.inject()
			}
		}
	}
}

// after schedules do to run wait from now.
func (d *driver) after(wait time.Duration, do func()) {
	d.pending = append(d.pending, event{time.Now().Add(wait), do})
}

// fire runs the events due at now, earliest first, including those that
// they schedule when due by now.
func (d *driver) fire(now time.Time) {
	for len(d.pending) > 0 {
		i := 0
		for j, e := range d.pending {
			if e.at.Before(d.pending[i].at) {
				i = j
			}
		}
		if d.pending[i].at.After(now) {
			return
		}
		e := d.pending[i]
		d.pending = slices.Delete(d.pending, i, i+1)
		e.do()
	}
}

// healAll runs every pending event now. No client runs by then, so a
// restarted server may rejoin at once.
func (d *driver) healAll() { d.fire(time.Now().Add(24 * time.Hour)) }

func (d *driver) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(d.rng.Int64N(int64(hi-lo)))
}

// clients returns a random non-empty subset of the clients.
func (d *driver) clients() []int {
	n := len(d.c.proxies)
	var out []int
	for len(out) == 0 {
		for i := range n {
			if d.rng.IntN(2) == 0 {
				out = append(out, i)
			}
		}
	}
	return out
}

func (d *driver) outNow() (n int) {
	for _, o := range d.out {
		if o {
			n++
		}
	}
	return n
}

// pick returns a random server for which ok holds, or -1.
func (d *driver) pick(ok func(i int) bool) int {
	var can []int
	for i := range d.c.servers {
		if ok(i) {
			can = append(can, i)
		}
	}
	if len(can) == 0 {
		return -1
	}
	return can[d.rng.IntN(len(can))]
}

func (d *driver) inject() {
	kind := []string{"kill", "pause", "pause", "partition", "partition", "partition", "latency", "latency", "drop", "drop"}[d.rng.IntN(10)]
	switch kind {
	case "latency":
		i := d.pick(func(i int) bool { return !d.slow[i] })
		if i < 0 {
			return
		}
		d.slow[i] = true
		who := d.clients()
		lat := d.between(time.Millisecond, 20*time.Millisecond)
		for _, c := range who {
			d.c.proxies[c][i].SetLatency(lat)
		}
		d.counts["latency"]++
		d.after(d.between(100*time.Millisecond, d.ttl), func() {
			for _, c := range who {
				d.c.proxies[c][i].SetLatency(0)
			}
			d.slow[i] = false
		})
		return
	case "drop":
		i := d.pick(func(int) bool { return true })
		d.counts["drop"]++
		for _, c := range d.clients() {
			d.counts["connections dropped"] += d.c.proxies[c][i].Drop()
		}
		return
	}
	if d.outNow() >= d.maxOut {
		return
	}
	i := d.pick(func(i int) bool { return !d.out[i] })
	d.out[i] = true
	s := d.c.servers[i]
	switch kind {
	case "kill":
		// A crashed host answers nobody; it stays so until it rejoins.
		d.partition(i, allClients(len(d.c.proxies)), (*Proxy).Refuse)
		s.Kill()
		d.kills = append(d.kills, time.Now())
		d.counts["kill"]++
		d.after(d.between(50*time.Millisecond, d.ttl/2), func() {
			if err := s.Restart(); err != nil {
				d.t.Errorf("restart server %d: %v", i, err)
			}
			d.counts["restart"]++
			// The delayed restart: a server that lost its memory keeps
			// out for longer than a TTL, so that every lock it granted
			// has expired everywhere before it grants again.
			d.after(d.rejoin, func() {
				d.partition(i, allClients(len(d.c.proxies)), (*Proxy).Heal)
				d.out[i] = false
			})
		})
	case "pause":
		s.Pause()
		d.counts["pause"]++
		d.after(d.between(50*time.Millisecond, d.ttl*3/2), func() {
			s.Resume()
			d.out[i] = false
		})
	case "partition":
		who := d.clients()
		how, name := (*Proxy).Blackhole, "partition (blackhole)"
		if d.rng.IntN(2) == 0 {
			how, name = (*Proxy).Refuse, "partition (refuse)"
		}
		d.partition(i, who, how)
		d.counts[name]++
		d.after(d.between(50*time.Millisecond, d.ttl), func() {
			d.partition(i, who, (*Proxy).Heal)
			d.out[i] = false
		})
	}
}

// partition applies how to the proxies of clients who to server i.
func (d *driver) partition(i int, who []int, how func(*Proxy)) {
	for _, c := range who {
		how(d.c.proxies[c][i])
	}
}

func allClients(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// killedTwiceBetween reports whether servers were crashed at least twice
// in (from, to).
func (d *driver) killedTwiceBetween(from, to time.Time) bool {
	n := 0
	for _, k := range d.kills {
		if k.After(from) && k.Before(to) {
			n++
		}
	}
	return n >= 2
}

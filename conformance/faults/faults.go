package faults

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

var (
	long = flag.Bool("faults.long", false, "run the fault campaigns for minutes rather than seconds")
	seed = flag.Uint64("faults.seed", 0, "seed of the fault schedules; 0 picks one, which the log shows")
)

// The timing of every campaign and scenario: a TTL long against the work
// done under the lock, a node timeout small against the TTL.
const (
	ttl         = time.Second
	nodeTimeout = 100 * time.Millisecond
	// rejoinAfter is how long a server restarted without its data stays
	// partitioned off: longer than the TTL, by more than the drift
	// allowance, so that every lock it granted before has expired.
	rejoinAfter = ttl + 250*time.Millisecond
)

// Run runs the fault campaigns and Kleppmann's scenarios against the
// adapter that h builds, each as a subtest with a time limit (see the
// package documentation for what each shows). It starts its own servers.
func Run(t *testing.T, h conformance.Harness) {
	s := *seed
	if s == 0 {
		s = rand.Uint64()
	}
	t.Logf("fault schedule seed %d (rerun with -faults.seed=%d)", s, s)
	minority := 8 * time.Second
	if *long {
		minority = 3 * time.Minute
	}
	cases := []struct {
		name string
		run  func(t *testing.T, ctx context.Context)
	}{
		{"MinorityCampaign", func(t *testing.T, ctx context.Context) {
			runCampaign(t, ctx, h, campaign{duration: minority, seed: s, rejoin: rejoinAfter})
		}},
		{"MinorityCampaignDurable", func(t *testing.T, ctx context.Context) {
			runCampaign(t, ctx, h, campaign{duration: minority / 2, seed: s + 1, durable: true})
		}},
		{"MinorityCampaignHandOver", func(t *testing.T, ctx context.Context) {
			runCampaign(t, ctx, h, campaign{duration: minority / 2, seed: s + 2, rejoin: rejoinAfter, handOver: true})
		}},
		{"MajorityRefuses", func(t *testing.T, ctx context.Context) { testMajority(t, ctx, h) }},
		{"RefusedRoundsLeaveNothing", func(t *testing.T, ctx context.Context) { testRefusedRoundsLeaveNothing(t, ctx, h) }},
		{"StalledHolder", func(t *testing.T, ctx context.Context) { testStalledHolder(t, ctx, h) }},
		{"RestartWithoutPersistence", func(t *testing.T, ctx context.Context) { testRestart(t, ctx, h) }},
		{"FenceCounters", func(t *testing.T, ctx context.Context) { testFenceCounters(t, ctx, h) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			limit := time.Minute
			if *long {
				limit += 2 * minority
			}
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			stuck := time.AfterFunc(limit+10*time.Second, func() {
				panic(fmt.Sprintf("faults: %s still running after %v", t.Name(), limit))
			})
			defer stuck.Stop()
			c.run(t, ctx)
		})
	}
}

// cluster is the fixture of a campaign or scenario: servers, and for each
// client its own proxy to every server and its own Nodes through them, so
// that the network of one client to one server can fail alone.
type cluster struct {
	t       *testing.T
	servers []*conformance.Server
	proxies [][]*Proxy    // [client][server]
	nodes   [][]core.Node // [client][server]
}

// newCluster starts n servers with the extra configuration and builds
// Nodes for the given number of clients.
func newCluster(t *testing.T, h conformance.Harness, n, clients int, extra ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, servers: conformance.Servers(t, n, extra...)}
	for range clients {
		ps := make([]*Proxy, n)
		ns := make([]core.Node, n)
		for i, s := range c.servers {
			p, err := NewProxy(s.Addr)
			require.NoError(t, err)
			t.Cleanup(func() { p.Close() })
			ps[i] = p
			ns[i] = h.NewNode(t, p.Addr())
		}
		c.proxies = append(c.proxies, ps)
		c.nodes = append(c.nodes, ns)
	}
	return c
}

// locker returns a Locker for client over all servers.
func (c *cluster) locker(client int, opts ...core.Option) *core.Locker {
	c.t.Helper()
	l, err := core.New(c.nodes[client], opts...)
	require.NoError(c.t, err)
	return l
}

// cut partitions client off the given servers, refusing its connections.
func (c *cluster) cut(client int, servers ...int) {
	for _, i := range servers {
		c.proxies[client][i].Refuse()
	}
}

// mend heals the network of client to the given servers.
func (c *cluster) mend(client int, servers ...int) {
	for _, i := range servers {
		c.proxies[client][i].Heal()
	}
}

// holders returns the servers, among those running, that hold the lock
// called name.
func (c *cluster) holders(name string) []int {
	c.t.Helper()
	var out []int
	for i, s := range c.servers {
		if !s.Running() {
			continue
		}
		v, err := s.Do("EXISTS", core.Key(name))
		if assert.NoError(c.t, err) && v == int64(1) {
			out = append(out, i)
		}
	}
	return out
}

// lockKeys returns, for each running server in only (every server when
// only is empty), the lock keys it holds: "redlock:*" without the fencing
// counters, which by design outlive their locks.
func (c *cluster) lockKeys(only ...int) map[int][]string {
	c.t.Helper()
	out := make(map[int][]string)
	for i, s := range c.servers {
		if !s.Running() || (len(only) > 0 && !slices.Contains(only, i)) {
			continue
		}
		v, err := s.Do("KEYS", "redlock:*")
		if !assert.NoError(c.t, err) {
			continue
		}
		for _, k := range v.([]any) {
			if key := k.(string); !isFenceKey(key) {
				out[i] = append(out[i], key)
			}
		}
	}
	return out
}

// isFenceKey reports whether key is the fencing counter of a lock.
func isFenceKey(key string) bool {
	open, end := strings.Index(key, "{"), strings.LastIndex(key, "}")
	return open >= 0 && end > open && key == core.FenceKey(key[open+1:end])
}

// waitNoLocks waits until no server in only (every server when empty)
// holds a lock key, for at most within.
func (c *cluster) waitNoLocks(within time.Duration, only ...int) bool {
	c.t.Helper()
	if assert.Eventually(c.t, func() bool { return len(c.lockKeys(only...)) == 0 }, within, 10*time.Millisecond) {
		return true
	}
	for i, keys := range c.lockKeys(only...) {
		for _, k := range keys {
			v, _ := c.servers[i].Do("GET", k)
			p, _ := c.servers[i].Do("PTTL", k)
			c.t.Errorf("lock key left behind after %v: server %d has %s = %v, PTTL %vms", within, i, k, v, p)
		}
	}
	return false
}

// close closes every proxy, which ends every client connection.
func (c *cluster) close() {
	for _, ps := range c.proxies {
		for _, p := range ps {
			p.Close()
		}
	}
}

// checkNoLeaks waits until no goroutine of core or of this package remains
// other than the caller's.
func checkNoLeaks(t *testing.T) bool {
	t.Helper()
	return assert.Eventually(t, func() bool { return len(ownGoroutines()) == 0 }, 5*time.Second, 10*time.Millisecond,
		"goroutines left behind:\n%s", strings.Join(ownGoroutines(), "\n\n"))
}

// ownGoroutines returns the stacks of live goroutines that run code of
// core or were started by this package, other than the caller's. Clients
// keep goroutines of their own (connection pools); those are not counted.
func ownGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i > 0 && (strings.Contains(g, "github.com/redlock-go/redlock/core.") ||
			strings.Contains(g, "created by github.com/redlock-go/redlock/conformance/faults.")) {
			out = append(out, g)
		}
	}
	return out
}

// wait waits for d or until ctx ends: the duration of a piece of work.
func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// validity follows the end of validity that a Mutex's holder was last
// told of (by Acquired and Extended events), which Until no longer
// reports once the holding has ended.
type validity struct {
	mu    sync.Mutex
	until time.Time
}

// option returns the Option that feeds v with a Mutex's events.
func (v *validity) option() core.Option { return core.WithEvents(v.observe) }

// observe records the end of validity that e reports, if any.
func (v *validity) observe(e core.Event) {
	if e.Kind == core.Acquired || e.Kind == core.Extended {
		v.mu.Lock()
		v.until = e.Until
		v.mu.Unlock()
	}
}

// last returns the end of validity last reported.
func (v *validity) last() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.until
}

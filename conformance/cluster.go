package conformance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
)

// Cluster is a Redis Cluster started for tests: masters only, no
// replicas, no persistence, loopback only, every slot assigned. A Locker
// counts a whole Cluster as one node. Its masters are Servers, so each can
// be killed, paused and resumed on its own; a master that is killed takes
// its slots down with it, since no replica takes over.
type Cluster struct {
	// Masters are the cluster's masters, in the order of their slot
	// ranges: Masters[0] serves the lowest slots.
	Masters []*Server

	ids []string // the masters' node IDs, as Masters
}

// ClusterCLI is the program StartCluster runs to create a cluster.
var ClusterCLI = "redis-cli"

// clusterSlots is how many hash slots a Redis Cluster has.
const clusterSlots = 16384

// StartCluster starts masters redis-servers in cluster mode, each on a
// free loopback port with a free cluster bus port, joins them into one
// cluster with `redis-cli --cluster create` (the slots split evenly among
// them), and waits until every master reports the cluster ok, knows every
// other, and agrees with the others on which master serves every slot.
// extra are further configuration arguments for every master, such as
// "--cluster-node-timeout", "2000". Stop it with Stop.
func StartCluster(masters int, extra ...string) (*Cluster, error) {
	if masters < 3 {
		return nil, fmt.Errorf("conformance: a cluster needs at least 3 masters, not %d", masters)
	}
	path, err := exec.LookPath(ServerBinary)
	if err != nil {
		return nil, fmt.Errorf("conformance: %s not found on PATH: install the Debian package redis-server (apt-get install -y redis-server): %w", ServerBinary, err)
	}
	cli, err := exec.LookPath(ClusterCLI)
	if err != nil {
		return nil, fmt.Errorf("conformance: %s not found on PATH: install the Debian package redis-tools: %w", ClusterCLI, err)
	}
	c := &Cluster{}
	for range masters {
		s, err := startClusterServer(path, extra)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Masters = append(c.Masters, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("conformance: %s --cluster create: %w: %s", ClusterCLI, err, out)
	}
	if err := c.waitAgreed(func(views []clusterView) error { return nil }); err != nil {
		c.Stop()
		return nil, err
	}
	for _, s := range c.Masters {
		id, err := s.Do("CLUSTER", "MYID")
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.ids = append(c.ids, fmt.Sprint(id))
	}
	return c, nil
}

// Clusters starts n clusters of masters masters each for the test, at
// once, and stops them at its cleanup. It fails the test if one does not
// start.
func Clusters(t testing.TB, n, masters int, extra ...string) []*Cluster {
	t.Helper()
	out := make([]*Cluster, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = StartCluster(masters, extra...)
		}()
	}
	wg.Wait()
	for _, c := range out {
		if c != nil {
			t.Cleanup(c.Stop)
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("conformance: start cluster: %v", err)
	}
	return out
}

// startClusterServer starts one cluster-mode master on free ports, its
// node configuration in a directory of its own.
func startClusterServer(path string, extra []string) (*Server, error) {
	var lastErr error
	for try := 0; try < 5; try++ {
		dir, err := os.MkdirTemp("", "redlock-cluster-")
		if err != nil {
			return nil, err
		}
		port, bus, err := freePorts()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		args := []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			// The bus port is chosen like the client port rather than left
			// at port+10000, which may be taken or out of range.
			"--cluster-port", strconv.Itoa(bus),
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), port: port, dir: dir, args: append(args, extra...)}
		s.Admin = Dial(s.Addr)
		if lastErr = s.launch(path); lastErr == nil {
			return s, nil
		}
		os.RemoveAll(dir)
	}
	return nil, lastErr
}

// freePorts returns two distinct free loopback ports.
func freePorts() (int, int, error) {
	a, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer a.Close()
	b, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer b.Close()
	return a.Addr().(*net.TCPAddr).Port, b.Addr().(*net.TCPAddr).Port, nil
}

// Stop kills every master and removes their directories.
func (c *Cluster) Stop() {
	for _, s := range c.Masters {
		s.Stop()
	}
}

// Addrs returns the masters' addresses, the seeds for a cluster client.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Masters))
	for i, s := range c.Masters {
		out[i] = s.Addr
	}
	return out
}

// Slot returns the hash slot of key, as the cluster computes it.
func (c *Cluster) Slot(key string) (int, error) {
	s, err := c.running()
	if err != nil {
		return 0, err
	}
	v, err := s.Do("CLUSTER", "KEYSLOT", key)
	if err != nil {
		return 0, err
	}
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("conformance: CLUSTER KEYSLOT answered %v", v)
	}
	return int(n), nil
}

// Owner returns the index in Masters of the running master that serves
// the slot of key, by its own account. During a slot move that is the
// master the slot leaves until Finish.
func (c *Cluster) Owner(key string) (int, error) {
	slot, err := c.Slot(key)
	if err != nil {
		return 0, err
	}
	for i, s := range c.Masters {
		if !s.Running() {
			continue
		}
		v, err := s.Do("CLUSTER", "NODES")
		if err != nil {
			return 0, err
		}
		for _, n := range parseClusterNodes(fmt.Sprint(v)) {
			if n.myself && n.serves(slot) {
				return i, nil
			}
		}
	}
	return 0, fmt.Errorf("conformance: no running master serves slot %d (key %q)", slot, key)
}

// KillOwner kills the master that serves the slot of key (see Owner) and
// returns its index in Masters.
func (c *Cluster) KillOwner(key string) (int, error) {
	i, err := c.Owner(key)
	if err != nil {
		return 0, err
	}
	c.Masters[i].Kill()
	return i, nil
}

// Do runs an admin command about key on the master that serves key,
// following MOVED and ASK redirections as a cluster client does, so that
// it reaches the key also in the middle of a slot move.
func (c *Cluster) Do(key string, args ...string) (any, error) {
	i, err := c.Owner(key)
	if err != nil {
		return nil, err
	}
	addr, asking := c.Masters[i].Addr, false
	for range 5 {
		v, err := c.doAt(addr, asking, args)
		var re RedisError
		if errors.As(err, &re) {
			if f := strings.Fields(string(re)); len(f) == 3 && (f[0] == "MOVED" || f[0] == "ASK") {
				addr, asking = f[2], f[0] == "ASK"
				continue
			}
		}
		return v, err
	}
	return nil, fmt.Errorf("conformance: too many redirections for key %q", key)
}

// doAt runs args on the master at addr, after ASKING when asking.
func (c *Cluster) doAt(addr string, asking bool, args []string) (any, error) {
	if !asking {
		for _, s := range c.Masters {
			if s.Addr == addr {
				return s.Do(args...)
			}
		}
	}
	conn := Dial(addr) // ASKING holds for the next command on its connection
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if asking {
		if _, err := conn.Do(ctx, "ASKING"); err != nil {
			return nil, err
		}
	}
	return conn.Do(ctx, args...)
}

// PatternSubscriptions returns how many pattern subscriptions (PSUBSCRIBE)
// the running masters have between them.
func (c *Cluster) PatternSubscriptions() (int, error) {
	n := 0
	for _, s := range c.Masters {
		if !s.Running() {
			continue
		}
		v, err := s.Do("PUBSUB", "NUMPAT")
		if err != nil {
			return 0, err
		}
		k, _ := v.(int64)
		n += int(k)
	}
	return n, nil
}

// MoveSlot moves the slot of key, with the keys in it, to Masters[to], by
// the manual resharding steps of BeginMove, SlotMove.MigrateKeys and
// SlotMove.Finish.
func (c *Cluster) MoveSlot(key string, to int) error {
	m, err := c.BeginMove(key, to)
	if err != nil {
		return err
	}
	if _, err := m.MigrateKeys(); err != nil {
		return err
	}
	return m.Finish()
}

// SlotMove is a slot on its way from one master to another, for tests
// that act between the steps of the move.
type SlotMove struct {
	c        *Cluster
	slot     int
	from, to int
}

// BeginMove starts moving the slot of key from the master that serves it
// to Masters[to]: CLUSTER SETSLOT IMPORTING on the target, then MIGRATING
// on the source. From then on, the source serves the keys it still has
// and sends clients to the target (ASK) for the others.
func (c *Cluster) BeginMove(key string, to int) (*SlotMove, error) {
	slot, err := c.Slot(key)
	if err != nil {
		return nil, err
	}
	from, err := c.Owner(key)
	if err != nil {
		return nil, err
	}
	if from == to {
		return nil, fmt.Errorf("conformance: slot %d is already on master %d", slot, to)
	}
	s := strconv.Itoa(slot)
	if _, err := c.Masters[to].Do("CLUSTER", "SETSLOT", s, "IMPORTING", c.ids[from]); err != nil {
		return nil, fmt.Errorf("conformance: SETSLOT %d IMPORTING on %s: %w", slot, c.Masters[to].Addr, err)
	}
	if _, err := c.Masters[from].Do("CLUSTER", "SETSLOT", s, "MIGRATING", c.ids[to]); err != nil {
		return nil, fmt.Errorf("conformance: SETSLOT %d MIGRATING on %s: %w", slot, c.Masters[from].Addr, err)
	}
	return &SlotMove{c: c, slot: slot, from: from, to: to}, nil
}

// Slot is the slot being moved.
func (m *SlotMove) Slot() int { return m.slot }

// From is the index in Masters of the master the slot leaves.
func (m *SlotMove) From() int { return m.from }

// To is the index in Masters of the master the slot moves to.
func (m *SlotMove) To() int { return m.to }

// MigrateKeys moves every key of the slot from the source to the target
// with MIGRATE, a hundred at a time, TTLs kept, and returns how many it
// moved.
func (m *SlotMove) MigrateKeys() (int, error) {
	src, dst := m.c.Masters[m.from], m.c.Masters[m.to]
	host, port, err := net.SplitHostPort(dst.Addr)
	if err != nil {
		return 0, err
	}
	moved := 0
	for {
		v, err := src.Do("CLUSTER", "GETKEYSINSLOT", strconv.Itoa(m.slot), "100")
		if err != nil {
			return moved, err
		}
		keys, _ := v.([]any)
		if len(keys) == 0 {
			return moved, nil
		}
		args := []string{"MIGRATE", host, port, "", "0", "5000", "KEYS"}
		for _, k := range keys {
			args = append(args, fmt.Sprint(k))
		}
		if _, err := src.Do(args...); err != nil {
			return moved, fmt.Errorf("conformance: MIGRATE of slot %d to %s: %w", m.slot, dst.Addr, err)
		}
		moved += len(keys)
	}
}

// Finish assigns the slot to the target on every running master (CLUSTER
// SETSLOT NODE: the target first, then the source, then the others) and
// waits until every one of them says the target serves it.
func (m *SlotMove) Finish() error {
	order := []int{m.to, m.from}
	for i := range m.c.Masters {
		if i != m.to && i != m.from {
			order = append(order, i)
		}
	}
	s := strconv.Itoa(m.slot)
	for _, i := range order {
		srv := m.c.Masters[i]
		if !srv.Running() {
			continue
		}
		if _, err := srv.Do("CLUSTER", "SETSLOT", s, "NODE", m.c.ids[m.to]); err != nil {
			return fmt.Errorf("conformance: SETSLOT %d NODE on %s: %w", m.slot, srv.Addr, err)
		}
	}
	target := m.c.ids[m.to]
	return m.c.waitAgreed(func(views []clusterView) error {
		for _, v := range views {
			if owner := v.owner(m.slot); owner != target {
				return fmt.Errorf("%s says slot %d is on %q, not on %q", v.addr, m.slot, owner, target)
			}
		}
		return nil
	})
}

// clusterView is what one master says of the cluster (CLUSTER NODES).
type clusterView struct {
	addr  string
	nodes []clusterNode
}

// owner returns the ID of the master that serves slot in v, "" if none.
func (v clusterView) owner(slot int) string {
	for _, n := range v.nodes {
		if n.master && n.serves(slot) {
			return n.id
		}
	}
	return ""
}

// slotMap describes who serves which slots in v, in a form that is equal
// for equal views.
func (v clusterView) slotMap() string {
	var parts []string
	for _, n := range v.nodes {
		if n.master {
			parts = append(parts, fmt.Sprint(n.id, n.slots))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id     string
	myself bool
	master bool
	slots  [][2]int // ranges served, ends included
}

func (n clusterNode) serves(slot int) bool {
	for _, r := range n.slots {
		if r[0] <= slot && slot <= r[1] {
			return true
		}
	}
	return false
}

// parseClusterNodes reads a CLUSTER NODES reply. Slots being imported or
// migrated ("[slot->-id]", "[slot-<-id]") are left out: the source still
// serves them.
func parseClusterNodes(reply string) []clusterNode {
	var out []clusterNode
	for _, line := range strings.Split(reply, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		n := clusterNode{id: f[0]}
		for _, flag := range strings.Split(f[2], ",") {
			switch flag {
			case "myself":
				n.myself = true
			case "master":
				n.master = true
			}
		}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue
			}
			lo, hi, found := strings.Cut(r, "-")
			if !found {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil {
				n.slots = append(n.slots, [2]int{a, b})
			}
		}
		out = append(out, n)
	}
	return out
}

// waitAgreed waits, for up to 30s, until every running master reports the
// cluster ok with every slot served, knows every master, and gives the
// same account as the others of who serves which slot; and check, given
// the masters' accounts, accepts them.
func (c *Cluster) waitAgreed(check func([]clusterView) error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.agreed(check)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("conformance: cluster %v not ready: %w", c.Addrs(), err)
		}
		time.Sleep(20 * time.Millisecond) // polling the servers' state, not synchronisation
	}
}

func (c *Cluster) agreed(check func([]clusterView) error) error {
	var views []clusterView
	for _, s := range c.Masters {
		if !s.Running() {
			continue
		}
		v, err := s.Do("CLUSTER", "INFO")
		if err != nil {
			return err
		}
		info := fmt.Sprint(v)
		for field, want := range map[string]string{
			"cluster_state":          "ok",
			"cluster_slots_assigned": strconv.Itoa(clusterSlots),
			"cluster_slots_ok":       strconv.Itoa(clusterSlots),
			"cluster_known_nodes":    strconv.Itoa(len(c.Masters)),
		} {
			if got := infoField(info, field); got != want {
				return fmt.Errorf("%s: %s is %q, not %q", s.Addr, field, got, want)
			}
		}
		v, err = s.Do("CLUSTER", "NODES")
		if err != nil {
			return err
		}
		views = append(views, clusterView{addr: s.Addr, nodes: parseClusterNodes(fmt.Sprint(v))})
	}
	if len(views) == 0 {
		return errors.New("no master running")
	}
	for _, v := range views[1:] {
		if v.slotMap() != views[0].slotMap() {
			return fmt.Errorf("%s and %s disagree on the slots: %s / %s", views[0].addr, v.addr, views[0].slotMap(), v.slotMap())
		}
	}
	for slot := range clusterSlots {
		if views[0].owner(slot) == "" {
			return fmt.Errorf("slot %d is not served", slot)
		}
	}
	return check(views)
}

// running returns a running master.
func (c *Cluster) running() (*Server, error) {
	for _, s := range c.Masters {
		if s.Running() {
			return s, nil
		}
	}
	return nil, errors.New("conformance: no master of the cluster is running")
}

// ClusterHarness connects the adapter under test to the clusters of
// RunCluster.
type ClusterHarness interface {
	// NewClusterNode returns a Node over a cluster client seeded with
	// addrs (host:port of every master, on 127.0.0.1), the whole cluster
	// one Node, and registers the client's cleanup with t.Cleanup.
	NewClusterNode(t testing.TB, addrs []string) core.Node
}

// ClusterHarnessFunc adapts a function to ClusterHarness.
type ClusterHarnessFunc func(t testing.TB, addrs []string) core.Node

// NewClusterNode calls f(t, addrs).
func (f ClusterHarnessFunc) NewClusterNode(t testing.TB, addrs []string) core.Node {
	return f(t, addrs)
}

// ClusterFixture is what each case of RunCluster gets: running clusters
// (shared by the cases, each using lock names of its own), a way to build
// Nodes over them, and a context that ends with the case's time limit.
type ClusterFixture struct {
	T        *testing.T
	Ctx      context.Context
	Clusters []*Cluster

	h ClusterHarness
}

// Node returns a new Node, over a client of its own, for Clusters[i].
func (f *ClusterFixture) Node(i int) core.Node {
	f.T.Helper()
	return f.h.NewClusterNode(f.T, f.Clusters[i].Addrs())
}

// Locker returns a Locker over a new Node for each of Clusters[from:to].
func (f *ClusterFixture) Locker(from, to int, opts ...core.Option) *core.Locker {
	f.T.Helper()
	var nodes []core.Node
	for i := from; i < to; i++ {
		nodes = append(nodes, f.Node(i))
	}
	l, err := core.New(nodes, opts...)
	require.NoError(f.T, err)
	f.T.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Wait(ctx) // let the releases on their way land before the clients close
	})
	return l
}

// PTTL returns the remaining TTL in milliseconds of key on Clusters[i]:
// -2 when it is missing, -1 when it has none.
func (f *ClusterFixture) PTTL(i int, key string) int64 {
	f.T.Helper()
	v, err := f.Clusters[i].Do(key, "PTTL", key)
	require.NoError(f.T, err)
	return v.(int64)
}

// Get returns the value of key on Clusters[i], "" when it is missing.
func (f *ClusterFixture) Get(i int, key string) string {
	f.T.Helper()
	v, err := f.Clusters[i].Do(key, "GET", key)
	require.NoError(f.T, err)
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// WaitRenewed waits until the TTL of the lock called name on Clusters[i]
// goes up, as it does when an extension lands, and fails the test if the
// key goes missing first.
func (f *ClusterFixture) WaitRenewed(i int, name string) {
	f.T.Helper()
	key := core.Key(name)
	last := f.PTTL(i, key)
	require.Positive(f.T, last, "the lock %q is not on cluster %d", name, i)
	var errs []error
	require.Eventually(f.T, func() bool {
		v, err := f.Clusters[i].Do(key, "PTTL", key)
		if err != nil {
			errs = append(errs, err)
			return len(errs) > 3
		}
		p, _ := v.(int64)
		if p <= 0 {
			errs = append(errs, fmt.Errorf("PTTL %d", p))
			return true
		}
		renewed := p > last
		last = p
		return renewed
	}, 5*time.Second, 5*time.Millisecond, "the TTL of %q on cluster %d was not renewed", name, i)
	require.NoError(f.T, errors.Join(errs...), "reading the TTL of %q on cluster %d", name, i)
}

// WaitSubscribed waits until Clusters[i] has at least n pattern
// subscriptions.
func (f *ClusterFixture) WaitSubscribed(i, n int) {
	f.T.Helper()
	require.Eventually(f.T, func() bool {
		k, err := f.Clusters[i].PatternSubscriptions()
		return err == nil && k >= n
	}, 10*time.Second, 5*time.Millisecond, "cluster %d never had %d pattern subscriptions", i, n)
}

// NameOn returns a lock name starting with prefix whose slot
// Masters[master] of Clusters[i] serves.
func (f *ClusterFixture) NameOn(i, master int, prefix string) string {
	f.T.Helper()
	for k := range 1000 {
		name := prefix + "-" + strconv.Itoa(k)
		owner, err := f.Clusters[i].Owner(core.Key(name))
		require.NoError(f.T, err)
		if owner == master {
			return name
		}
	}
	f.T.Fatalf("no name for master %d of cluster %d", master, i)
	return ""
}

// listening has a Lock of l wait on a lock of its own (held by a Mutex of
// l) until the test ends, and waits until cluster i has a pattern
// subscription, so that the Locks the test starts later find the
// subscriptions up (see AsleepPolicy).
func (f *ClusterFixture) listening(l *core.Locker, i int, name string) {
	f.T.Helper()
	holder := l.NewMutex(name)
	require.NoError(f.T, holder.TryLock(f.Ctx))
	ctx, cancel := context.WithCancel(f.Ctx)
	queued := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.NewMutex(name, QueuedPolicy(queued)).Lock(ctx)
	}()
	<-queued
	f.WaitSubscribed(i, 1)
	f.T.Cleanup(func() {
		cancel()
		<-done
	})
}

type clusterCase struct {
	name string
	run  func(f *ClusterFixture)
}

// RunCluster runs the cases of Redis Cluster deployments against the
// adapter that h builds: the cluster client behind one Node of a Locker.
// It starts four clusters of three masters each (twelve redis-servers)
// and shares them among the cases, each case under lock names of its own;
// the cases that move slots, pause or kill masters come last. The cases:
//
//   - the whole life of a lock on a one-node Locker over a cluster:
//     acquire, refresh, Extend, keep-alive, Do, fencing, the Subscriber's
//     pattern subscription hearing releases published on every master,
//     wake on release, hand-over;
//   - lock names with braces (the keys of a lock share a slot whatever
//     the name) and the names core refuses;
//   - mutual exclusion over three clusters;
//   - a held, kept-alive lock whose slot moves to another master, step
//     by step, with and without fencing;
//   - a master that hangs, and then masters killed, under a Locker of
//     three clusters.
func RunCluster(t *testing.T, h ClusterHarness) {
	clusters := Clusters(t, 4, 3)
	for _, c := range clusterCases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), CaseTimeout)
			name := t.Name()
			limit := time.AfterFunc(CaseTimeout+5*time.Second, func() {
				panic(fmt.Sprintf("conformance: %s still running after %v", name, CaseTimeout))
			})
			t.Cleanup(func() {
				limit.Stop()
				cancel()
			})
			c.run(&ClusterFixture{T: t, Ctx: ctx, Clusters: clusters, h: h})
		})
	}
}

// The cases of RunCluster, in order: those that change the clusters last.
var clusterCases = []clusterCase{
	{"LockLife", testClusterLockLife},
	{"KeepAlive", testClusterKeepAlive},
	{"Fencing", testClusterFencing},
	{"SubscriberHearsEveryMaster", testClusterSubscriber},
	{"ReleaseWakesWaiter", testClusterReleaseWakes},
	{"HandOver", testClusterHandOver},
	{"Names", testClusterNames},
	{"MutualExclusion", testClusterMutualExclusion},
	{"SlotMigration", testClusterSlotMigration},
	{"SlotMigrationFenced", testClusterSlotMigrationFenced},
	{"MasterPaused", testClusterMasterPaused},
	{"MasterKilled", testClusterMasterKilled},
}

// assertContention checks that err is a refusal by another owner, with no
// node error other than that: a redirection or a cluster error must not
// pass for contention, nor contention for a node failure.
func assertContention(t *testing.T, err error) {
	t.Helper()
	require.ErrorIs(t, err, core.ErrNotAcquired)
	assert.ErrorIs(t, err, core.ErrHeldByOther)
	assert.NotErrorIs(t, err, core.ErrNodeRejected)
	var multi interface{ Unwrap() []error }
	if errors.As(err, &multi) {
		for _, e := range multi.Unwrap() {
			var ne *core.NodeError
			if errors.As(e, &ne) {
				assert.ErrorIs(t, ne, core.ErrHeldByOther, "node %s", ne.Addr)
			}
		}
	}
}

func testClusterLockLife(f *ClusterFixture) {
	const ttl = 10 * time.Second
	var v Validities
	l := f.Locker(0, 1, core.WithTTL(ttl), core.WithEvents(v.Record))
	const name = "life"
	key := core.Key(name)
	m := l.NewMutex(name)
	require.NoError(f.T, m.TryLock(f.Ctx))
	assert.True(f.T, time.Now().Before(m.Until()))
	assert.Greater(f.T, f.PTTL(0, key), int64(ttl/time.Millisecond)-1000, "the key's TTL")
	assertContention(f.T, l.NewMutex(name).TryLock(f.Ctx))
	assertContention(f.T, f.Locker(0, 1).NewMutex(name).TryLock(f.Ctx))

	// Refresh: TryLock by the holder resets the TTL.
	aged := func() bool { return f.PTTL(0, key) < int64(ttl/time.Millisecond)-50 }
	require.Eventually(f.T, aged, 5*time.Second, 5*time.Millisecond)
	before, until := f.PTTL(0, key), m.Until()
	require.NoError(f.T, m.TryLock(f.Ctx), "refresh")
	assert.Greater(f.T, f.PTTL(0, key), before, "the refresh reset the TTL")
	v.AssertRenewed(f.T, m.Until(), until, "the refresh")

	// Extend resets it too.
	require.Eventually(f.T, aged, 5*time.Second, 5*time.Millisecond)
	before, until = f.PTTL(0, key), m.Until()
	require.NoError(f.T, m.Extend(f.Ctx))
	assert.Greater(f.T, f.PTTL(0, key), before, "Extend reset the TTL")
	v.AssertRenewed(f.T, m.Until(), until, "Extend")

	require.NoError(f.T, m.Unlock(f.Ctx))
	assert.Equal(f.T, int64(-2), f.PTTL(0, key), "the key is gone after Unlock")
	assert.ErrorIs(f.T, m.Unlock(f.Ctx), core.ErrNotHeld)
	assert.ErrorIs(f.T, m.Extend(f.Ctx), core.ErrNotHeld)
	other := l.NewMutex(name)
	require.NoError(f.T, other.TryLock(f.Ctx), "free after Unlock")
	require.NoError(f.T, other.Unlock(f.Ctx))
}

func testClusterKeepAlive(f *ClusterFixture) {
	const ttl = 600 * time.Millisecond
	l := f.Locker(0, 1, core.WithTTL(ttl), core.WithNodeTimeout(100*time.Millisecond))
	m := l.NewMutex("kept", core.WithKeepAlive(true))
	start := time.Now()
	require.NoError(f.T, m.Lock(f.Ctx))
	for range 4 {
		f.WaitRenewed(0, "kept")
	}
	assert.Greater(f.T, time.Since(start), ttl, "four extensions take longer than a TTL")
	select {
	case <-m.Done():
		f.T.Fatalf("the kept-alive lock was lost: %v", m.Err())
	default:
	}
	require.NoError(f.T, m.Err())
	assertContention(f.T, f.Locker(0, 1).NewMutex("kept").TryLock(f.Ctx)) // another process: the nodes refuse
	require.NoError(f.T, m.Unlock(f.Ctx))
	assert.Equal(f.T, int64(-2), f.PTTL(0, core.Key("kept")))

	// Do keeps the lock alive for fn and releases it when fn returns.
	start = time.Now()
	require.NoError(f.T, l.Do(f.Ctx, "kept-do", func(ctx context.Context) error {
		for range 4 {
			f.WaitRenewed(0, "kept-do")
		}
		assert.NoError(f.T, ctx.Err(), "fn's context ended while the lock was kept alive")
		return nil
	}))
	assert.Greater(f.T, time.Since(start), ttl)
	assert.Equal(f.T, int64(-2), f.PTTL(0, core.Key("kept-do")), "released when fn returned")
}

func testClusterFencing(f *ClusterFixture) {
	l := f.Locker(0, 1, core.WithFencing())
	const name = "fenced"
	slot, err := f.Clusters[0].Slot(core.Key(name))
	require.NoError(f.T, err)
	fenceSlot, err := f.Clusters[0].Slot(core.FenceKey(name))
	require.NoError(f.T, err)
	require.Equal(f.T, slot, fenceSlot, "the lock and its counter share a slot")

	var last uint64
	for i := range 5 {
		m := l.NewMutex(name)
		require.NoError(f.T, m.Lock(f.Ctx), "holder %d", i)
		assert.Greater(f.T, m.Fence(), last, "holder %d", i)
		last = m.Fence()
		require.NoError(f.T, m.TryLock(f.Ctx), "refresh")
		assert.Equal(f.T, last, m.Fence(), "a refresh keeps the token")
		require.NoError(f.T, m.Extend(f.Ctx))
		assert.Equal(f.T, last, m.Fence(), "an extension keeps the token")
		require.NoError(f.T, m.Unlock(f.Ctx))
	}
	assert.Equal(f.T, strconv.FormatUint(last, 10), f.Get(0, core.FenceKey(name)), "the counter holds the last token")
	assertCounterTTL(f.T, f.PTTL(0, core.FenceKey(name)), core.DefaultCounterTTL, "the counter")
	require.NoError(f.T, l.Do(f.Ctx, name, func(ctx context.Context) error {
		assert.Greater(f.T, core.FenceOf(ctx), last, "Do's token")
		return nil
	}))
	// Another Locker, over another client, continues the sequence.
	m := f.Locker(0, 1, core.WithFencing()).NewMutex(name)
	require.NoError(f.T, m.TryLock(f.Ctx))
	assert.Greater(f.T, m.Fence(), last+1, "a holder through another client")
	require.NoError(f.T, m.Unlock(f.Ctx))
}

// testClusterSubscriber: the Node's pattern subscription, which lives on
// one master, hears the releases published on each master of the cluster.
func testClusterSubscriber(f *ClusterFixture) {
	n := f.Node(0)
	s, ok := n.(core.Subscriber)
	if !ok {
		f.T.Skip("the Node does not implement core.Subscriber; Lock polls")
	}
	ctx, cancel := context.WithCancel(f.Ctx)
	ready := make(chan struct{})
	got := make(chan string, 16)
	done := make(chan error, 1)
	go func() {
		done <- s.Listen(ctx, "redlock:*:released", func() { close(ready) }, func(ch string) { got <- ch })
	}()
	select {
	case <-ready:
	case err := <-done:
		f.T.Fatalf("Listen returned before its subscription was confirmed: %v", err)
	case <-f.Ctx.Done():
		f.T.Fatal("Listen never confirmed its subscription")
	}
	n0, err := f.Clusters[0].PatternSubscriptions()
	require.NoError(f.T, err)
	assert.Positive(f.T, n0, "no master has the pattern subscription")
	l, err := core.New([]core.Node{n})
	require.NoError(f.T, err)
	for master := range f.Clusters[0].Masters {
		name := f.NameOn(0, master, "announced")
		m := l.NewMutex(name)
		require.NoError(f.T, m.TryLock(f.Ctx))
		require.NoError(f.T, m.Unlock(f.Ctx))
		timeout := time.After(5 * time.Second)
		for heard := false; !heard; {
			select {
			case ch := <-got:
				// The pattern matches every lock's releases in the
				// cluster, this test's and any other client's.
				heard = ch == core.Channel(name)
			case err := <-done:
				f.T.Fatalf("Listen returned: %v", err)
			case <-timeout:
				f.T.Fatalf("the release of %q, published on master %d, was not delivered", name, master)
			}
		}
	}
	cancel()
	select {
	case err := <-done:
		assert.NoError(f.T, err, "Listen returns nil when its context ends")
	case <-time.After(5 * time.Second):
		f.T.Fatal("Listen did not return after its context ended")
	}
}

// testClusterReleaseWakes: a Lock that waits on a cluster wakes on the
// release by a holder of another Locker (another process), well before its
// retry delay, through its subscription.
func testClusterReleaseWakes(f *ClusterFixture) {
	if _, ok := f.Node(0).(core.Subscriber); !ok {
		f.T.Skip("the Node does not implement core.Subscriber; Lock polls")
	}
	holders, waiters := f.Locker(0, 1), f.Locker(0, 1)
	f.listening(waiters, 0, "wake-listening")
	holder := holders.NewMutex("wake")
	require.NoError(f.T, holder.TryLock(f.Ctx))
	asleep := make(chan struct{}, 1)
	waiter := waiters.NewMutex("wake", AsleepPolicy(asleep)) // a 20s delay once asleep
	checkWokenByRelease(f.T, f.Ctx, holder, waiter, asleep)
}

// testClusterHandOver: Unlock hands the lock to a Lock of the same Locker
// that waits for it, without releasing it in between.
func testClusterHandOver(f *ClusterFixture) {
	if _, ok := f.Node(0).(core.Subscriber); !ok {
		f.T.Skip("the Node does not implement core.Subscriber; Lock polls")
	}
	const name = "handover"
	l := f.Locker(0, 1)
	f.listening(l, 0, "handover-listening")
	holder := l.NewMutex(name, FixedOwner("holder"))
	require.NoError(f.T, holder.TryLock(f.Ctx))
	queued := make(chan struct{}, 1)
	var handedOver atomic.Bool
	events := core.WithEvents(func(e core.Event) {
		if e.Kind == core.Acquired && e.HandOver {
			handedOver.Store(true)
		}
	})
	waiter := l.NewMutex(name, FixedOwner("waiter"), AsleepPolicy(queued), events)
	acquired := make(chan error, 1)
	go func() { acquired <- waiter.Lock(f.Ctx) }()
	select {
	case <-queued:
	case <-f.Ctx.Done():
		f.T.Fatal("the waiter never went to sleep")
	}
	for _, s := range f.Clusters[0].Masters {
		_, err := s.Do("CONFIG", "RESETSTAT")
		require.NoError(f.T, err)
	}
	require.NoError(f.T, holder.Unlock(f.Ctx))
	select {
	case err := <-acquired:
		require.NoError(f.T, err)
	case <-time.After(5 * time.Second):
		f.T.Fatal("the waiter was not handed the lock")
	}
	assert.True(f.T, time.Now().Before(waiter.Until()), "the waiter holds the lock with a validity")
	assert.True(f.T, handedOver.Load(), "the waiter's Acquired event tells of the hand-over")
	assert.True(f.T, strings.HasPrefix(f.Get(0, core.Key(name)), "waiter|"), "the key is the waiter's")
	for i, s := range f.Clusters[0].Masters {
		v, err := s.Do("INFO", "commandstats")
		require.NoError(f.T, err)
		assert.Empty(f.T, infoField(fmt.Sprint(v), "cmdstat_publish"), "master %d announced a release during the hand-over", i)
	}
	require.NoError(f.T, waiter.Unlock(f.Ctx))
	assert.Equal(f.T, int64(-2), f.PTTL(0, core.Key(name)))
}

// testClusterNames: whatever braces a name holds, its lock key and fencing
// counter share a slot, so every script runs on one master; names that
// begin with "}" are refused before anything is sent.
func testClusterNames(f *ClusterFixture) {
	c := f.Clusters[0]
	for _, fenced := range []bool{false, true} {
		var opts []core.Option
		if fenced {
			opts = append(opts, core.WithFencing())
		}
		l := f.Locker(0, 1, opts...)
		for _, name := range []string{"plain", "a{b}c", "job}x", "{x", "{}", "{", "x{", "a}b{c}", "{{}}", "名前"} {
			keySlot, err := c.Slot(core.Key(name))
			require.NoError(f.T, err)
			fenceSlot, err := c.Slot(core.FenceKey(name))
			require.NoError(f.T, err)
			assert.Equal(f.T, keySlot, fenceSlot, "name %q: the lock and its counter in one slot", name)

			m := l.NewMutex(name)
			require.NoError(f.T, m.TryLock(f.Ctx), "name %q, fenced %v", name, fenced)
			assert.Positive(f.T, f.PTTL(0, core.Key(name)), "name %q: the key", name)
			if fenced {
				assert.NotZero(f.T, m.Fence(), "name %q", name)
				assert.Equal(f.T, strconv.FormatUint(m.Fence(), 10), f.Get(0, core.FenceKey(name)), "name %q: the counter", name)
			}
			assertContention(f.T, f.Locker(0, 1, opts...).NewMutex(name).TryLock(f.Ctx)) // another process: the nodes refuse
			require.NoError(f.T, m.Extend(f.Ctx), "name %q, fenced %v", name, fenced)
			require.NoError(f.T, m.Unlock(f.Ctx), "name %q, fenced %v", name, fenced)
			assert.Equal(f.T, int64(-2), f.PTTL(0, core.Key(name)), "name %q: released", name)
			require.NoError(f.T, l.Do(f.Ctx, name, func(context.Context) error { return nil }), "name %q: Do", name)
		}
		for _, name := range []string{"}", "}x", "}{x}", ""} {
			m := l.NewMutex(name)
			for op, call := range map[string]func(context.Context) error{
				"TryLock": m.TryLock, "Lock": m.Lock, "Extend": m.Extend, "Unlock": m.Unlock,
			} {
				err := call(f.Ctx)
				require.Error(f.T, err, "%s of %q", op, name)
				assert.NotErrorIs(f.T, err, core.ErrNotAcquired, "%s of %q: refused as a name, not as a lock", op, name)
				var ne *core.NodeError
				assert.False(f.T, errors.As(err, &ne), "%s of %q reached a node: %v", op, name, err)
			}
			ran := false
			err := l.Do(f.Ctx, name, func(context.Context) error { ran = true; return nil })
			assert.Error(f.T, err, "Do of %q", name)
			assert.False(f.T, ran, "Do ran fn under the name %q", name)
			if name != "" {
				assert.ErrorContains(f.T, m.TryLock(f.Ctx), `"}"`, "the error says why %q is refused", name)
			}
		}
	}
	for i, s := range c.Masters {
		v, err := s.Do("KEYS", "redlock:{}*")
		require.NoError(f.T, err)
		assert.Empty(f.T, v, "master %d has keys of a refused name", i)
	}
}

// testClusterMutualExclusion: contenders in two Lockers over the same
// three clusters, each cluster one node, take turns on one lock name and
// never overlap.
func testClusterMutualExclusion(f *ClusterFixture) {
	const (
		contenders = 8
		rounds     = 10
		name       = "exclusion"
	)
	lockers := []*core.Locker{
		f.Locker(1, 4, core.WithTTL(5*time.Second)),
		f.Locker(1, 4, core.WithTTL(5*time.Second)),
	}
	counterAt, err := f.Clusters[1].Owner("counter")
	require.NoError(f.T, err)
	var holders, overlaps, acquired, waiting, mostWaiting atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, contenders)
	for c := range contenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counter := Dial(f.Clusters[1].Masters[counterAt].Addr) // a read-modify-write through its own connection
			defer counter.Close()
			m := lockers[c%2].NewMutex(name)
			for range rounds {
				raiseTo(&mostWaiting, waiting.Add(1))
				err := m.Lock(f.Ctx)
				waiting.Add(-1)
				if err != nil {
					errs <- fmt.Errorf("contender %d: lock: %w", c, err)
					return
				}
				acquired.Add(1)
				if err := increment(f.Ctx, counter, &holders, &overlaps); err != nil {
					errs <- err
					return
				}
				if err := m.Unlock(f.Ctx); err != nil {
					errs <- fmt.Errorf("contender %d: unlock: %w", c, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(f.T, err)
	}
	assert.Zero(f.T, overlaps.Load(), "critical sections overlapped")
	assert.Equal(f.T, int32(contenders*rounds), acquired.Load(), "acquisitions")
	assert.Greater(f.T, mostWaiting.Load(), int32(1), "the contenders never waited for the lock at the same time")
	v, err := f.Clusters[1].Masters[counterAt].Do("GET", "counter")
	require.NoError(f.T, err)
	assert.Equal(f.T, strconv.Itoa(contenders*rounds), v, "increments lost to overlapping holders")
	for _, l := range lockers {
		require.NoError(f.T, l.Wait(f.Ctx))
	}
	for i := 1; i <= 3; i++ {
		assert.Equal(f.T, int64(-2), f.PTTL(i, core.Key(name)), "the lock left behind on cluster %d", i)
	}
}

// raiseTo sets x to v if v is larger.
func raiseTo(x *atomic.Int32, v int32) {
	for old := x.Load(); v > old && !x.CompareAndSwap(old, v); old = x.Load() {
	}
}

func testClusterSlotMigration(f *ClusterFixture) { testSlotMigration(f, "migrating") }

func testClusterSlotMigrationFenced(f *ClusterFixture) {
	testSlotMigration(f, "migrating-fenced", core.WithFencing())
}

// testSlotMigration: a kept-alive lock whose slot moves to another master
// step by step stays held and kept alive at every step, and a contender,
// through a client of its own, is refused at every step.
func testSlotMigration(f *ClusterFixture, name string, opts ...core.Option) {
	const ttl = 900 * time.Millisecond
	c := f.Clusters[0]
	opts = append(opts, core.WithTTL(ttl), core.WithNodeTimeout(200*time.Millisecond))
	l := f.Locker(0, 1, opts...)
	contender := f.Locker(0, 1, opts...).NewMutex(name)
	var lost atomic.Value
	m := l.NewMutex(name, core.WithKeepAlive(true), core.WithEvents(func(e core.Event) {
		if e.Kind == core.Lost || e.Kind == core.ExtendFailed {
			lost.CompareAndSwap(nil, fmt.Sprintf("%v: %v", e.Kind, e.Err))
		}
	}))
	require.NoError(f.T, m.Lock(f.Ctx))
	fence := m.Fence()
	from, err := c.Owner(core.Key(name))
	require.NoError(f.T, err)
	to := (from + 1) % len(c.Masters)
	held := func(step string) {
		f.T.Helper()
		f.WaitRenewed(0, name)
		f.WaitRenewed(0, name)
		assertContention(f.T, contender.TryLock(f.Ctx))
		select {
		case <-m.Done():
			f.T.Fatalf("%s: the lock was lost: %v", step, m.Err())
		default:
		}
		assert.NoError(f.T, m.Err(), step)
		assert.Nil(f.T, lost.Load(), step)
	}
	held("before the move")

	move, err := c.BeginMove(core.Key(name), to)
	require.NoError(f.T, err)
	held("slot migrating, the keys on the source")

	n, err := move.MigrateKeys()
	require.NoError(f.T, err)
	want := 1
	if fence != 0 {
		want = 2 // the lock and its counter
	}
	assert.Equal(f.T, want, n, "keys moved")
	held("slot migrating, the keys on the target")

	require.NoError(f.T, move.Finish())
	owner, err := c.Owner(core.Key(name))
	require.NoError(f.T, err)
	require.Equal(f.T, to, owner, "the slot moved")
	for i, want := range map[int]int64{from: 0, to: int64(n)} {
		v, err := c.Masters[i].Do("CLUSTER", "COUNTKEYSINSLOT", strconv.Itoa(move.Slot()))
		require.NoError(f.T, err)
		assert.Equal(f.T, want, v, "keys of the slot on master %d", i)
	}
	held("slot moved")

	require.NoError(f.T, m.Extend(f.Ctx))
	assert.Equal(f.T, fence, m.Fence(), "the token kept")
	require.NoError(f.T, m.Unlock(f.Ctx))
	assert.Equal(f.T, int64(-2), f.PTTL(0, core.Key(name)), "released after the move")
	require.NoError(f.T, contender.TryLock(f.Ctx), "free for the contender after Unlock")
	if fence != 0 {
		assert.Greater(f.T, contender.Fence(), fence, "the counter moved with the lock")
	}
	require.NoError(f.T, contender.Unlock(f.Ctx))
}

// scriptCalls returns how many scripts the running masters of Clusters[i]
// ran since their statistics were reset (CONFIG RESETSTAT).
func (f *ClusterFixture) scriptCalls(i int) int {
	f.T.Helper()
	n := 0
	for _, s := range f.Clusters[i].Masters {
		if !s.Running() {
			continue
		}
		v, err := s.Do("INFO", "commandstats")
		require.NoError(f.T, err)
		for _, cmd := range []string{"evalsha", "eval"} {
			if stat := infoField(fmt.Sprint(v), "cmdstat_"+cmd); stat != "" {
				c, err := strconv.Atoi(strings.TrimPrefix(strings.Split(stat, ",")[0], "calls="))
				require.NoError(f.T, err)
				n += c
			}
		}
	}
	return n
}

// gatedOn returns a lock name whose slot is that of the hash tag tag and
// whose gate, in l (a Locker over Clusters[clusters[0]], ...), is the node
// of Clusters[clusters[gate]], and leaves it contended: for the next
// second l's rounds of that name ask the gate first and alone (see
// Mutex.TryLock). It finds the gate by the scripts each cluster runs in a
// gated round, while other, a Locker over the same nodes (another
// process, whose holding l's rounds meet on the nodes), holds the name.
func (f *ClusterFixture) gatedOn(l, other *core.Locker, clusters []int, gate int, tag string) string {
	f.T.Helper()
	for k := range 50 {
		name := tag + "}" + strconv.Itoa(k)                         // hashed as tag alone
		holder, contender := other.NewMutex(name), l.NewMutex(name) // the holder another process's: l's rounds meet it on the nodes
		require.NoError(f.T, holder.TryLock(f.Ctx))
		assertContention(f.T, contender.TryLock(f.Ctx)) // a full round: from now on the name is contended
		for _, i := range clusters {
			for _, s := range f.Clusters[i].Masters {
				_, err := s.Do("CONFIG", "RESETSTAT")
				require.NoError(f.T, err)
			}
		}
		assertContention(f.T, contender.TryLock(f.Ctx)) // a gated round: the gate alone
		var asked []int
		for x, i := range clusters {
			if f.scriptCalls(i) > 0 {
				asked = append(asked, x)
			}
		}
		require.NoError(f.T, holder.Unlock(f.Ctx))
		require.NoError(f.T, other.Wait(f.Ctx))
		require.NoError(f.T, l.Wait(f.Ctx))
		if len(asked) == 1 && asked[0] == gate {
			return name
		}
	}
	f.T.Fatalf("no name with its gate on cluster %d", clusters[gate])
	return ""
}

// eventLog records a Locker's events, timed from its first, for the
// message of a failed check.
type eventLog struct {
	mu     sync.Mutex
	start  time.Time
	events []string
}

func (l *eventLog) option() core.Option {
	return core.WithEvents(func(e core.Event) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.start.IsZero() {
			l.start = time.Now()
		}
		ev := fmt.Sprintf("%v: %v, %d nodes, took %v", time.Since(l.start).Round(time.Millisecond), e.Kind, e.Nodes, e.Took.Round(time.Millisecond))
		if !e.Until.IsZero() {
			ev += fmt.Sprintf(", valid until %v", e.Until.Sub(l.start).Round(time.Millisecond))
		}
		if e.Err != nil {
			ev += fmt.Sprintf(": %v", e.Err)
		}
		l.events = append(l.events, ev)
	})
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.events, "\n")
}

// testClusterMasterPaused: in a Locker of three clusters, the master that
// serves the lock's slot in one cluster hangs (SIGSTOP), as a dead master
// does for a client that keeps redialling it: that node answers nothing
// within the node timeout, and the other two must carry the quorum.
func testClusterMasterPaused(f *ClusterFixture) {
	const (
		ttl         = 900 * time.Millisecond
		nodeTimeout = 150 * time.Millisecond
		tag         = "paused" // the names below share its slot
	)
	clusters := []int{1, 2, 3}
	nodes := []core.Node{f.Node(1), f.Node(2), f.Node(3)}
	locker := func(opts ...core.Option) *core.Locker {
		l, err := core.New(nodes, opts...)
		require.NoError(f.T, err)
		f.T.Cleanup(func() { l.Wait(context.Background()) })
		return l
	}
	gl := locker(core.WithNodeTimeout(nodeTimeout))
	gated := f.gatedOn(gl, locker(core.WithNodeTimeout(nodeTimeout)), clusters, 0, tag)
	hung, err := f.Clusters[1].Owner(core.Key(tag))
	require.NoError(f.T, err)
	f.Clusters[1].Masters[hung].Pause()
	defer f.Clusters[1].Masters[hung].Resume()

	// A gated round whose gate hangs: the two other clusters are up and
	// free and can grant the lock, and they are not to blame.
	f.T.Run("HungGate", func(t *testing.T) {
		m := gl.NewMutex(gated)
		err := m.TryLock(f.Ctx)
		if err == nil {
			require.NoError(t, m.Unlock(f.Ctx))
			return
		}
		t.Errorf("a round whose gate hangs failed although two of three nodes are up and free: %v", err)
		var multi interface{ Unwrap() []error }
		if errors.As(err, &multi) {
			for _, e := range multi.Unwrap() {
				var ne *core.NodeError
				if errors.As(e, &ne) && ne.Addr != nodes[0].Addr() {
					t.Errorf("the live node %s is blamed: %v", ne.Addr, ne.Err)
				}
			}
		}
	})

	// Kept alive through the two live clusters, with a node timeout that
	// leaves room for the extension rounds (period + 2 node timeouts < TTL).
	f.T.Run("KeepAlive", func(t *testing.T) {
		var events eventLog
		l := locker(core.WithTTL(ttl), core.WithNodeTimeout(nodeTimeout), events.option())
		err := l.Do(f.Ctx, tag+"}kept", func(ctx context.Context) error { return Job(ctx, 3*ttl) })
		assert.NoError(t, err, "a lock that two of three nodes kept alive was lost; events:\n%s", events.String())
	})

	// Kept alive with the largest node timeout New accepts for this TTL
	// and period (node timeout + period < TTL − drift).
	f.T.Run("KeepAliveAtNodeTimeoutBound", func(t *testing.T) {
		const nodeTimeout = 300 * time.Millisecond
		var events eventLog
		l := locker(core.WithTTL(ttl), core.WithNodeTimeout(nodeTimeout), events.option())
		err := l.Do(f.Ctx, tag+"}bound", func(ctx context.Context) error { return Job(ctx, 3*ttl) })
		assert.NoError(t, err, "a lock that two of three nodes kept alive was lost; events:\n%s", events.String())
	})
}

// testClusterMasterKilled: in a Locker of three clusters, the master that
// serves the lock's slot in one cluster is killed: that node fails like
// any node and the other two carry the quorum. When a second cluster
// loses the master of the slot, rounds fail with errors that name both.
func testClusterMasterKilled(f *ClusterFixture) {
	const (
		ttl         = 900 * time.Millisecond
		nodeTimeout = 150 * time.Millisecond
		tag         = "killed" // the names below share its slot
	)
	nodes := []core.Node{f.Node(1), f.Node(2), f.Node(3)}
	l, err := core.New(nodes, core.WithTTL(ttl), core.WithNodeTimeout(nodeTimeout))
	require.NoError(f.T, err)
	f.T.Cleanup(func() { l.Wait(context.Background()) })
	other, err := core.New(nodes, core.WithTTL(ttl), core.WithNodeTimeout(nodeTimeout)) // another process: the nodes refuse its contender
	require.NoError(f.T, err)
	f.T.Cleanup(func() { other.Wait(context.Background()) })
	_, err = f.Clusters[1].KillOwner(core.Key(tag))
	require.NoError(f.T, err)

	name := tag + "}life"
	for round := range 3 {
		ctx, cancel := context.WithTimeout(f.Ctx, 5*time.Second)
		m := l.NewMutex(name)
		require.NoError(f.T, m.Lock(ctx), "round %d", round)
		cancel()
		err := other.NewMutex(name).TryLock(f.Ctx)
		require.ErrorIs(f.T, err, core.ErrNotAcquired, "round %d: a contender", round)
		assert.ErrorIs(f.T, err, core.ErrHeldByOther, "round %d: the live clusters refused the contender", round)
		require.NoError(f.T, m.Extend(f.Ctx), "round %d", round)
		require.NoError(f.T, m.Unlock(f.Ctx), "round %d", round)
	}
	require.NoError(f.T, l.Do(f.Ctx, name, func(ctx context.Context) error {
		return Job(ctx, 3*ttl) // kept alive by the two clusters left
	}))
	require.NoError(f.T, l.Wait(f.Ctx))
	for i := 2; i <= 3; i++ {
		assert.Equal(f.T, int64(-2), f.PTTL(i, core.Key(name)), "released on cluster %d", i)
	}

	_, err = f.Clusters[2].KillOwner(core.Key(tag))
	require.NoError(f.T, err)
	err = l.NewMutex(tag + "}unreachable").TryLock(f.Ctx)
	require.ErrorIs(f.T, err, core.ErrNotAcquired)
	var ne *core.NodeError
	require.ErrorAs(f.T, err, &ne)
	assert.Contains(f.T, []string{nodes[0].Addr(), nodes[1].Addr()}, ne.Addr)
	assert.Contains(f.T, err.Error(), nodes[0].Addr())
	assert.Contains(f.T, err.Error(), nodes[1].Addr())
	assert.NotContains(f.T, err.Error(), nodes[2].Addr(), "the live node is not blamed")
	assert.NotErrorIs(f.T, err, core.ErrHeldByOther, "a dead master is not contention")

	// A dead master is not a rejection of the command: Lock keeps trying
	// until its context ends.
	ctx, cancel := context.WithTimeout(f.Ctx, 3*nodeTimeout)
	defer cancel()
	err = l.NewMutex(tag + "}unreachable").Lock(ctx)
	require.ErrorIs(f.T, err, core.ErrNotAcquired)
	assert.ErrorIs(f.T, err, context.DeadlineExceeded, "Lock gave up before its context ended: %v", err)
	assert.NotErrorIs(f.T, err, core.ErrNodeRejected)
}

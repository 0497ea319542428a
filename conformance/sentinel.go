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
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
)

// SentinelBinary is the program StartSentinelGroup runs for each sentinel
// (the Debian package redis-sentinel).
var SentinelBinary = "redis-sentinel"

// SentinelWait bounds each wait of a SentinelGroup: for the group to form,
// and for a failover to end.
var SentinelWait = 30 * time.Second

// SentinelGroup is a Sentinel deployment started for tests: a master, one
// replica of it, and three sentinels that monitor the master with a quorum
// of two, all on loopback, with no persistence. A Locker counts the whole
// group as one node, reached through a client that asks the sentinels
// where the master is.
//
// The sentinels consider the master down after a second without an
// answer (down-after-milliseconds 1000), so killing the master starts a
// failover within a few seconds; Failover starts one at once.
type SentinelGroup struct {
	// MasterName is the name under which the sentinels monitor the master.
	MasterName string
	// Servers are the master the group started with, Servers[0], and its
	// replica, Servers[1]. A failover swaps their roles: Master tells
	// which is the master now.
	Servers []*Server
	// Sentinels are the group's three sentinels.
	Sentinels []*Sentinel
}

// Sentinel is a redis-sentinel process of a SentinelGroup.
type Sentinel struct {
	// Addr is the sentinel's host:port on 127.0.0.1.
	Addr string
	// Admin is a connection for asking the sentinel (SENTINEL ...).
	Admin *Conn

	cmd  *exec.Cmd
	exit chan struct{}
	out  *lockedBuffer
	once sync.Once
}

// StartSentinelGroup starts a master, a replica of it and three sentinels
// for t, and stops them all at t's cleanup. It returns once every sentinel
// names the master, sees the replica linked to it and knows the two other
// sentinels, so that a failover can be agreed; it fails the test if that
// does not happen within SentinelWait.
func StartSentinelGroup(t testing.TB) *SentinelGroup {
	t.Helper()
	path, err := exec.LookPath(SentinelBinary)
	if err != nil {
		t.Fatalf("conformance: %s not found on PATH: install the Debian package redis-sentinel (apt-get install -y redis-sentinel): %v", SentinelBinary, err)
	}
	// No delay before a full sync, so that the replica, and after a
	// failover the old master, is linked at once.
	replication := []string{"--repl-diskless-sync-delay", "0"}
	g := &SentinelGroup{MasterName: "redlock-test"}
	master := Servers(t, 1, replication...)[0]
	host, port, err := net.SplitHostPort(master.Addr)
	if err != nil {
		t.Fatal(err)
	}
	replica := Servers(t, 1, append([]string{"--replicaof", host, port}, replication...)...)[0]
	g.Servers = []*Server{master, replica}
	g.wait(t, "the replica to be linked to its master", func() error { return replicaLinked(master, replica) })

	for range 3 {
		s, err := startSentinel(path, t.TempDir(), g.MasterName, master.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.stop)
		g.Sentinels = append(g.Sentinels, s)
	}
	g.wait(t, "the sentinels to agree on the master, its replica and each other", func() error {
		_, err := g.agreed(nil, replica)
		return err
	})
	return g
}

// SentinelAddrs returns the sentinels' addresses, for a failover client.
func (g *SentinelGroup) SentinelAddrs() []string {
	out := make([]string, len(g.Sentinels))
	for i, s := range g.Sentinels {
		out[i] = s.Addr
	}
	return out
}

// Master waits until every running sentinel names the same one of Servers
// as the master, and it answers as one, and returns it.
func (g *SentinelGroup) Master(t testing.TB) *Server {
	t.Helper()
	var m *Server
	g.wait(t, "the sentinels to agree on the master", func() (err error) {
		m, err = g.agreed(nil, nil)
		return err
	})
	return m
}

// Failover asks a sentinel to fail the master over to its replica at once
// (SENTINEL FAILOVER, which needs no agreement that the master is down)
// and waits, as WaitFailover does, until the sentinels name the replica
// as the master; it returns the new master. The old master keeps running:
// the sentinels turn it into a replica of the new one some seconds later
// (about ten), and close its clients' connections then. Until then it
// still accepts writes from clients that have not moved.
func (g *SentinelGroup) Failover(t testing.TB) *Server {
	t.Helper()
	old := g.Master(t)
	g.wait(t, "a sentinel to start the failover", func() error {
		_, err := g.Sentinels[0].Do("SENTINEL", "FAILOVER", g.MasterName)
		var re RedisError
		if errors.As(err, &re) && strings.HasPrefix(string(re), "INPROG") {
			return nil
		}
		return err // NOGOODSLAVE until the sentinel has seen the replica answer lately
	})
	return g.WaitFailover(t, old)
}

// WaitFailover waits until every running sentinel names a server other
// than old as the master, with no failover in progress, and that server
// answers as a master; it returns it. After old.Kill(), it waits for the
// failover that the sentinels start on their own.
func (g *SentinelGroup) WaitFailover(t testing.TB, old *Server) *Server {
	t.Helper()
	var m *Server
	g.wait(t, "the sentinels to name a new master", func() (err error) {
		m, err = g.agreed(old, nil)
		return err
	})
	return m
}

// agreed checks that every running sentinel names the same one of Servers
// as the master, that it is not notMaster, that none reports the master
// down or a failover in progress, and that the master answers with the
// role of master; with replica, also that every sentinel sees replica
// linked to the master and knows the two other sentinels. It returns the
// master.
func (g *SentinelGroup) agreed(notMaster, replica *Server) (*Server, error) {
	var master *Server
	for _, s := range g.Sentinels {
		if !s.running() {
			continue
		}
		v, err := s.Do("SENTINEL", "MASTER", g.MasterName)
		if err != nil {
			return nil, fmt.Errorf("sentinel %s: %w", s.Addr, err)
		}
		state := sentinelFields(v)
		addr := net.JoinHostPort(state["ip"], state["port"])
		if state["flags"] != "master" {
			return nil, fmt.Errorf("sentinel %s: master %s has flags %q", s.Addr, addr, state["flags"])
		}
		i := slices.IndexFunc(g.Servers, func(srv *Server) bool { return srv.Addr == addr })
		switch {
		case i < 0:
			return nil, fmt.Errorf("sentinel %s names %s, not one of the group's servers, as the master", s.Addr, addr)
		case master != nil && master != g.Servers[i]:
			return nil, fmt.Errorf("sentinel %s names %s as the master, another sentinel %s", s.Addr, addr, master.Addr)
		case g.Servers[i] == notMaster:
			return nil, fmt.Errorf("sentinel %s still names %s as the master", s.Addr, addr)
		}
		master = g.Servers[i]
		if replica == nil {
			continue
		}
		if n := state["num-other-sentinels"]; n != strconv.Itoa(len(g.Sentinels)-1) {
			return nil, fmt.Errorf("sentinel %s knows %s other sentinels", s.Addr, n)
		}
		v, err = s.Do("SENTINEL", "REPLICAS", g.MasterName)
		if err != nil {
			return nil, fmt.Errorf("sentinel %s: %w", s.Addr, err)
		}
		replicas, _ := v.([]any)
		seen := false
		for _, r := range replicas {
			r := sentinelFields(r)
			if net.JoinHostPort(r["ip"], r["port"]) == replica.Addr && r["flags"] == "slave" && r["master-link-status"] == "ok" {
				seen = true
			}
		}
		if !seen {
			return nil, fmt.Errorf("sentinel %s does not see the replica %s linked: %v", s.Addr, replica.Addr, v)
		}
	}
	if master == nil {
		return nil, errors.New("no sentinel is running")
	}
	if !master.Running() {
		return nil, fmt.Errorf("the sentinels name %s, which is not running, as the master", master.Addr)
	}
	v, err := master.Do("INFO", "replication")
	if err != nil {
		return nil, fmt.Errorf("master %s: %w", master.Addr, err)
	}
	if role := infoField(fmt.Sprint(v), "role"); role != "master" {
		return nil, fmt.Errorf("the sentinels name %s as the master, which says its role is %q", master.Addr, role)
	}
	if replica != nil {
		if err := replicaLinked(master, replica); err != nil {
			return nil, err
		}
	}
	return master, nil
}

// replicaLinked checks that replica is linked to master and has synced.
func replicaLinked(master, replica *Server) error {
	v, err := replica.Do("INFO", "replication")
	if err != nil {
		return fmt.Errorf("replica %s: %w", replica.Addr, err)
	}
	info := fmt.Sprint(v)
	host, port, _ := net.SplitHostPort(master.Addr)
	if infoField(info, "master_host") != host || infoField(info, "master_port") != port || infoField(info, "master_link_status") != "up" {
		return fmt.Errorf("replica %s is not linked to %s: %s", replica.Addr, master.Addr, strings.Join(strings.Fields(info), " "))
	}
	return nil
}

// wait polls check until it returns nil, and fails t if SentinelWait
// passes first, with check's last error and the sentinels' logs.
func (g *SentinelGroup) wait(t testing.TB, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(SentinelWait)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			var logs strings.Builder
			for _, s := range g.Sentinels {
				out := s.out.String()
				if len(out) > 4000 {
					out = "..." + out[len(out)-4000:]
				}
				fmt.Fprintf(&logs, "\n--- sentinel %s:\n%s", s.Addr, out)
			}
			t.Fatalf("conformance: waited %v for %s: %v%s", SentinelWait, what, err, logs.String())
		}
		time.Sleep(20 * time.Millisecond) // polling the servers' state, not synchronisation
	}
}

// startSentinel starts a sentinel that monitors the master at masterAddr
// as name, with its configuration file in dir, on a free loopback port.
func startSentinel(path, dir, name, masterAddr string) (*Sentinel, error) {
	host, port, err := net.SplitHostPort(masterAddr)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for try := 0; try < 5; try++ {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		conf := filepath.Join(dir, "sentinel.conf") // the sentinel rewrites it as it learns
		text := strings.Join([]string{
			"port " + strconv.Itoa(p),
			"bind 127.0.0.1",
			"protected-mode no",
			"daemonize no",
			`logfile ""`,
			"dir " + dir,
			"sentinel monitor " + name + " " + host + " " + port + " 2",
			"sentinel down-after-milliseconds " + name + " 1000",
			"sentinel failover-timeout " + name + " 10000",
			"sentinel parallel-syncs " + name + " 1",
		}, "\n") + "\n"
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return nil, err
		}
		s := &Sentinel{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), out: &lockedBuffer{}}
		s.Admin = Dial(s.Addr)
		if lastErr = s.launch(path, conf); lastErr == nil {
			return s, nil
		}
	}
	return nil, lastErr
}

// launch runs the sentinel and waits until it answers as itself.
func (s *Sentinel) launch(path, conf string) error {
	cmd := exec.Command(path, conf)
	cmd.SysProcAttr = sysProcAttr()
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		return err
	}
	exit := make(chan struct{})
	go func() { cmd.Wait(); close(exit) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		v, err := s.Admin.Do(ctx, "INFO", "server")
		cancel()
		if err == nil {
			if infoField(fmt.Sprint(v), "process_id") == strconv.Itoa(cmd.Process.Pid) {
				s.cmd, s.exit = cmd, exit
				return nil
			}
			s.Admin.Close()
			cmd.Process.Kill()
			<-exit
			return fmt.Errorf("conformance: port of sentinel %s answered by another server", s.Addr)
		}
		select {
		case <-exit:
			return fmt.Errorf("conformance: redis-sentinel on %s exited: %s", s.Addr, s.out.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exit
			return fmt.Errorf("conformance: redis-sentinel on %s did not answer: %v", s.Addr, err)
		}
	}
}

// Do runs one command on the sentinel, with a 5s bound.
func (s *Sentinel) Do(args ...string) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Admin.Do(ctx, args...)
}

func (s *Sentinel) running() bool {
	select {
	case <-s.exit:
		return false
	default:
		return true
	}
}

// stop kills the sentinel, by its pid, and waits for it to exit.
func (s *Sentinel) stop() {
	s.once.Do(func() {
		s.cmd.Process.Kill()
		<-s.exit
		s.Admin.Close()
	})
}

// sentinelFields reads a reply of alternating names and values, as SENTINEL
// MASTER gives it.
func sentinelFields(v any) map[string]string {
	list, _ := v.([]any)
	out := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		out[fmt.Sprint(list[i])] = fmt.Sprint(list[i+1])
	}
	return out
}

// SentinelHarness connects the adapter under test to the Sentinel groups
// of RunSentinel.
type SentinelHarness interface {
	// NewSentinelNode returns a Node over a client that finds the master
	// monitored as masterName through the sentinels at sentinels
	// (host:port on 127.0.0.1), the whole group one Node, and registers
	// the client's cleanup with t.Cleanup.
	NewSentinelNode(t testing.TB, masterName string, sentinels []string) core.Node
}

// SentinelHarnessFunc adapts a function to SentinelHarness.
type SentinelHarnessFunc func(t testing.TB, masterName string, sentinels []string) core.Node

// NewSentinelNode calls f(t, masterName, sentinels).
func (f SentinelHarnessFunc) NewSentinelNode(t testing.TB, masterName string, sentinels []string) core.Node {
	return f(t, masterName, sentinels)
}

// SentinelFixture is what each case of RunSentinel gets: a Sentinel group
// of its own, a way to build Nodes over it, and a context that ends with
// the case's time limit.
type SentinelFixture struct {
	T     *testing.T
	Ctx   context.Context
	Group *SentinelGroup

	h SentinelHarness
}

// Node returns a new Node, over a client of its own, for the group.
func (f *SentinelFixture) Node() core.Node {
	f.T.Helper()
	return f.h.NewSentinelNode(f.T, f.Group.MasterName, f.Group.SentinelAddrs())
}

// Locker returns a Locker over a new Node for the group, the only node.
func (f *SentinelFixture) Locker(opts ...core.Option) *core.Locker {
	f.T.Helper()
	l, err := core.New([]core.Node{f.Node()}, opts...)
	require.NoError(f.T, err)
	f.T.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Wait(ctx) // let the releases on their way land before the clients close
	})
	return l
}

// PTTL returns the remaining TTL in milliseconds of key on s: -2 when it
// is missing.
func (f *SentinelFixture) PTTL(s *Server, key string) int64 {
	f.T.Helper()
	v, err := s.Do("PTTL", key)
	require.NoError(f.T, err)
	return v.(int64)
}

// sentinelCaseTimeout bounds each case of RunSentinel: a group takes a
// few seconds to form, and a failover some more.
const sentinelCaseTimeout = 90 * time.Second

// RunSentinel runs the cases of a Sentinel group as one node, over the
// Nodes that h builds, each case on a group of its own: locks through the
// master (acquire, refusal, Extend, Unlock, fencing tokens, a waiter woken
// by a release), and, after a failover that SENTINEL FAILOVER starts and
// after one that killing the master starts, the Node follows the new
// master. A lock written before a failover may or may not survive it
// (replication is asynchronous): the cases check that the Node tells
// which, and assert nothing else about it.
func RunSentinel(t *testing.T, h SentinelHarness) {
	for _, c := range []struct {
		name string
		run  func(f *SentinelFixture)
	}{
		{"SentinelLocks", testSentinelLocks},
		{"SentinelFailover", func(f *SentinelFixture) { testSentinelFailover(f, false) }},
		{"SentinelMasterKilled", func(f *SentinelFixture) { testSentinelFailover(f, true) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), sentinelCaseTimeout)
			name := t.Name()
			limit := time.AfterFunc(sentinelCaseTimeout+5*time.Second, func() {
				panic(fmt.Sprintf("conformance: %s still running after %v", name, sentinelCaseTimeout))
			})
			t.Cleanup(func() {
				limit.Stop()
				cancel()
			})
			c.run(&SentinelFixture{T: t, Ctx: ctx, Group: StartSentinelGroup(t), h: h})
		})
	}
}

// testSentinelLocks: every lock operation works through the master.
func testSentinelLocks(f *SentinelFixture) {
	master := f.Group.Master(f.T)
	var v Validities
	l := f.Locker(core.WithEvents(v.Record))
	const name = "sentinel-lock"
	m := l.NewMutex(name)
	require.NoError(f.T, m.TryLock(f.Ctx))
	assert.Positive(f.T, f.PTTL(master, core.Key(name)), "the lock is on the master")
	err := f.Locker().NewMutex(name).TryLock(f.Ctx)
	assert.ErrorIs(f.T, err, core.ErrNotAcquired, "a contender through a client of its own")
	until := m.Until()
	require.NoError(f.T, m.Extend(f.Ctx))
	v.AssertRenewed(f.T, m.Until(), until, "Extend")
	require.NoError(f.T, m.Unlock(f.Ctx))
	assert.Equal(f.T, int64(-2), f.PTTL(master, core.Key(name)), "released on the master")
	assert.ErrorIs(f.T, m.Unlock(f.Ctx), core.ErrNotHeld)

	fenced := f.Locker(core.WithFencing())
	var last uint64
	for round := range 3 {
		m := fenced.NewMutex("sentinel-fenced")
		require.NoError(f.T, m.TryLock(f.Ctx), "fenced round %d", round)
		assert.Greater(f.T, m.Fence(), last, "fenced round %d", round)
		last = m.Fence()
		v, err := master.Do("GET", core.FenceKey("sentinel-fenced"))
		require.NoError(f.T, err)
		assert.Equal(f.T, strconv.FormatUint(last, 10), v, "the counter on the master")
		require.NoError(f.T, m.Unlock(f.Ctx))
	}

	if _, ok := l.Nodes()[0].(core.Subscriber); !ok {
		f.T.Log("the Node does not implement core.Subscriber: a waiting Lock polls")
		return
	}
	f.wakes(master, f.Locker(), l, "sentinel-wake")
}

// wakes checks that a Lock of waiters, asleep for 20s, wakes when a
// holder of holders releases the lock called name, through its
// subscription on master.
func (f *SentinelFixture) wakes(master *Server, holders, waiters *core.Locker, name string) {
	f.T.Helper()
	holder := holders.NewMutex(name)
	require.NoError(f.T, holder.TryLock(f.Ctx))
	queued, asleep := make(chan struct{}, 1), make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(f.Ctx)
	// A first waiter brings the subscription up, so that the second makes
	// its rounds and goes to sleep with no wake from the subscription
	// coming up (see AsleepPolicy).
	require.NoError(f.T, holders.NewMutex(name+"-listening").TryLock(f.Ctx))
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		waiters.NewMutex(name+"-listening", QueuedPolicy(queued)).Lock(ctx)
	}()
	defer func() { cancel(); <-listening }()
	select {
	case <-queued:
	case <-f.Ctx.Done():
		f.T.Fatal("the first waiter never joined the queue")
	}
	require.Eventually(f.T, func() bool {
		v, err := master.Do("PUBSUB", "NUMPAT")
		return err == nil && v.(int64) > 0
	}, 10*time.Second, 5*time.Millisecond, "the waiters never subscribed on the master %s", master.Addr)
	waiter := waiters.NewMutex(name, AsleepPolicy(asleep))
	checkWokenByRelease(f.T, f.Ctx, holder, waiter, asleep)
}

// testSentinelFailover: after a failover (SENTINEL FAILOVER, or the master
// killed), the same Node reaches the new master: a new lock is acquired
// there, extended and released, and a Lock that waited through the
// failover acquires once the lock is released on the new master (woken, or
// by polling: the test tells which); after the master was killed, a new
// waiter is woken by a release. A lock written before may have survived,
// and the Node says which. A probe locks and unlocks through the Node all
// along, to tell how the client fares meanwhile.
func testSentinelFailover(f *SentinelFixture, kill bool) {
	l := f.Locker(core.WithTTL(60 * time.Second))
	holders := f.Locker(core.WithTTL(60 * time.Second))
	before := l.NewMutex("sentinel-before")
	require.NoError(f.T, before.TryLock(f.Ctx))
	old := f.Group.Master(f.T)
	require.Positive(f.T, f.PTTL(old, core.Key("sentinel-before")), "the lock is on the master")

	// A Lock of l waits through the failover for a lock of holders.
	across := holders.NewMutex("sentinel-across")
	require.NoError(f.T, across.TryLock(f.Ctx))
	// Its rounds are acrossDelay apart: a Lock whose subscription is lost
	// polls, and one that is woken acquires well before.
	const acrossDelay = 5 * time.Second
	queued := make(chan struct{}, 1)
	woken := make(chan time.Time, 1)
	waiter := l.NewMutex("sentinel-across", SignalPolicy(queued, 1, acrossDelay))
	go func() {
		defer close(woken)
		if waiter.Lock(f.Ctx) == nil {
			woken <- time.Now()
		}
	}()
	select {
	case <-queued:
	case <-f.Ctx.Done():
		f.T.Fatal("the waiter never joined the queue")
	}
	require.Eventually(f.T, func() bool {
		v, err := old.Do("PUBSUB", "NUMPAT")
		return err == nil && v.(int64) > 0
	}, 10*time.Second, 5*time.Millisecond, "the waiter never subscribed on the master")

	start := time.Now()
	probe := f.probe(l, start)
	var master *Server
	if kill {
		old.Kill()
		master = f.Group.WaitFailover(f.T, old)
	} else {
		master = f.Group.Failover(f.T)
	}
	promoted := time.Since(start)

	// Wait until a lock through the Node lands on the new master. Until
	// the client has moved, rounds fail, or, when the old master still
	// runs, may be granted by it.
	const name = "sentinel-after"
	oldGrants := 0
	var m *core.Mutex
	for m == nil {
		if f.Ctx.Err() != nil {
			f.T.Fatalf("the Node did not reach the new master %s within %v", master.Addr, time.Since(start))
		}
		try := l.NewMutex(name)
		switch err := try.TryLock(f.Ctx); {
		case err != nil:
		case f.PTTL(master, core.Key(name)) > 0:
			m = try
			continue
		default:
			oldGrants++ // by the old master, which the client has not left yet
			try.Unlock(f.Ctx)
		}
		select {
		case <-time.After(20 * time.Millisecond): // the next round of a poll with a deadline
		case <-f.Ctx.Done():
		}
	}
	followed := time.Since(start)
	f.T.Logf("the sentinels named %s the master %v after the failover began; a lock through the Node landed there after %v (%d granted by the old master before)",
		master.Addr, promoted.Round(time.Millisecond), followed.Round(time.Millisecond), oldGrants)
	f.T.Logf("the probe through the Node: %s", probe())

	err := f.Locker().NewMutex(name).TryLock(f.Ctx)
	assert.ErrorIs(f.T, err, core.ErrNotAcquired, "a contender through a client made after the failover")
	require.NoError(f.T, m.Extend(f.Ctx))
	require.NoError(f.T, m.Unlock(f.Ctx))
	assert.Equal(f.T, int64(-2), f.PTTL(master, core.Key(name)), "released on the new master")

	// The lock taken before the failover survived if its write reached the
	// replica in time. Either way, Unlock through the Node says so.
	survived := f.PTTL(master, core.Key("sentinel-before")) > 0
	f.T.Logf("the lock written before the failover survived it: %v", survived)
	err = before.Unlock(f.Ctx)
	if survived {
		assert.NoError(f.T, err, "Unlock of the lock that survived")
		assert.Equal(f.T, int64(-2), f.PTTL(master, core.Key("sentinel-before")), "released on the new master")
	} else {
		assert.ErrorIs(f.T, err, core.ErrNotHeld, "Unlock of the lock that the failover lost")
	}

	// The Lock that waited through the failover: released on the new
	// master (or lost with the old one), it acquires.
	released := time.Now()
	if err := across.Unlock(f.Ctx); err != nil {
		assert.ErrorIs(f.T, err, core.ErrNotHeld, "Unlock of a lock that the failover lost")
	}
	select {
	case at, ok := <-woken:
		require.True(f.T, ok, "the Lock that waited through the failover did not acquire")
		how := "woken by the release"
		if at.Sub(released) > acrossDelay/2 {
			how = "by polling: its subscription did not deliver the release"
		}
		f.T.Logf("the Lock that waited through the failover acquired %v after the release, %s", at.Sub(released).Round(time.Millisecond), how)
	case <-f.Ctx.Done():
		f.T.Fatal("the Lock that waited through the failover never acquired")
	}
	require.NoError(f.T, waiter.Unlock(f.Ctx))

	if _, ok := l.Nodes()[0].(core.Subscriber); ok && kill {
		// The Node that lived through the failover waits anew; a holder
		// through a client of its own releases. (After SENTINEL FAILOVER,
		// a subscription of the Node may stay on the old master until the
		// sentinels make it a replica and close its clients' connections,
		// some seconds later; waiters poll until then.)
		f.wakes(master, f.Locker(), l, "sentinel-wake-after")
	}
}

// probe locks and unlocks a lock of its own through l, every 10ms, until
// the returned function is called; that function returns what the probe
// saw, in time since start: its errors and when it succeeded.
func (f *SentinelFixture) probe(l *core.Locker, start time.Time) (stop func() string) {
	ctx, cancel := context.WithCancel(f.Ctx)
	type outcome struct {
		first, last time.Duration
		n           int
	}
	var (
		mu       sync.Mutex
		outcomes = map[string]*outcome{}
		order    []string
		done     = make(chan struct{})
	)
	note := func(what string) {
		at := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		o := outcomes[what]
		if o == nil {
			o = &outcome{first: at}
			outcomes[what] = o
			order = append(order, what)
		}
		o.last, o.n = at, o.n+1
	}
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			m := l.NewMutex("sentinel-probe")
			if err := m.TryLock(ctx); err != nil {
				note("TryLock: " + err.Error())
			} else if err := m.Unlock(ctx); err != nil {
				note("Unlock: " + err.Error())
			} else {
				note("ok")
			}
			select {
			case <-time.After(10 * time.Millisecond): // the probe's pace
			case <-ctx.Done():
			}
		}
	}()
	return func() string {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		var b strings.Builder
		for _, what := range order {
			o := outcomes[what]
			fmt.Fprintf(&b, "\n\t%d× from %v to %v: %s", o.n, o.first.Round(time.Millisecond), o.last.Round(time.Millisecond), what)
		}
		return b.String()
	}
}

// RequirePass makes password the password of the default user on the
// group's servers, after telling the servers (masterauth) and the
// sentinels (auth-pass) to log in to them with it. The sentinels
// themselves ask for no password. The servers' admin connections stay
// logged in.
func (g *SentinelGroup) RequirePass(t testing.TB, password string) {
	t.Helper()
	for _, s := range g.Servers {
		if _, err := s.Do("CONFIG", "SET", "masterauth", password); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range g.Sentinels {
		if _, err := s.Do("SENTINEL", "SET", g.MasterName, "auth-pass", password); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range g.Servers {
		if _, err := s.Do("CONFIG", "SET", "requirepass", password); err != nil {
			t.Fatal(err)
		}
	}
}

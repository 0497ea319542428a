package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/retry"
)

const demoHelp = `Usage: redlock demo [flags]

Shows the lock at work, in a few seconds. Three workers compete for one
lock; one wins and keeps it alive past several TTLs while the others wait;
a node dies and the lock holds; then the lock's keys are deleted on every
node, as an operator (or an expiry) would, and the holder is told and stops.

The nodes are three Redis-compatible servers embedded in this process
(miniredis), so the demo needs no server. With --nodes it runs on your
servers instead: there it cuts its own connections to the last node rather
than stopping the server, and it deletes the demo lock's keys only while its
own worker holds the lock. $REDLOCK_NODES is not read by demo.

Flags:
{{flags}}

Exit status:
  0   the demo ran as told
  1   it did not (the output says where)
  2   bad flags, a bad node URL, or fewer than a quorum of nodes answer

Examples:
  redlock demo
  redlock demo --nodes 127.0.0.1:6379,127.0.0.1:6380,127.0.0.1:6381
`

// The demo's timeline, counted from the moment the first worker starts.
const (
	demoTTL       = 1500 * time.Millisecond
	demoWorkers   = 3
	demoStagger   = 100 * time.Millisecond  // between the workers' starts
	demoKillAt    = 2200 * time.Millisecond // a node dies
	demoGiveUpAt  = 3200 * time.Millisecond // the waiting workers give up
	demoTakeAt    = 4600 * time.Millisecond // the lock's keys are deleted
	demoTellLimit = 3 * time.Second         // the holder must be told within this
)

func demoCommand(args []string, stdout, stderr io.Writer) int {
	var nodesFlag, name string
	fs := newFlagSet("demo", demoHelp, stdout)
	fs.StringVar(&nodesFlag, "nodes", "", "run on these servers (comma-separated node `URLs`) instead of embedded ones")
	fs.StringVar(&name, "name", "nightly", "the lock's `NAME`")
	if err := parseFlags(fs, args); errors.Is(err, errHelp) {
		return 0
	} else if err != nil {
		return fail(stderr, "demo", err, exitUsage)
	}
	switch {
	case fs.NArg() > 0:
		return fail(stderr, "demo", usagef("unexpected argument %q", fs.Arg(0)), exitUsage)
	case name == "":
		return fail(stderr, "demo", usagef("empty lock NAME"), exitUsage)
	}

	out := &lines{w: stdout}
	var (
		nodes []*node
		kill  func(i int) string // makes node i die; says how
		err   error
	)
	if nodesFlag == "" {
		var servers []*embeddedServer
		nodes, servers, err = startEmbedded(demoWorkers)
		if err != nil {
			return fail(stderr, "demo", err, exitFailed)
		}
		defer func() {
			for _, s := range servers {
				s.close()
			}
		}()
		if _, err := checkNodes(context.Background(), nodes); err != nil {
			return fail(stderr, "demo", err, exitFailed)
		}
		kill = func(i int) string {
			servers[i].close()
			return "its embedded server stops"
		}
		out.printf("demo", "%d embedded Redis nodes: %s (a quorum is %d)", len(nodes), addrs(nodes), quorum(len(nodes)))
	} else {
		if nodes, err = openNodes(nodesFlag); err != nil {
			return fail(stderr, "demo", usagef("%v", err), exitUsage)
		}
		if _, err := checkNodes(context.Background(), nodes); err != nil {
			closeNodes(nodes)
			return fail(stderr, "demo", err, exitUsage)
		}
		kill = func(i int) string {
			nodes[i].client.Close()
			return "the demo cuts its connections to it"
		}
		out.printf("demo", "%s: %s (a quorum is %d)", plural(len(nodes), "node"), addrs(nodes), quorum(len(nodes)))
	}
	defer closeNodes(nodes)

	if err := runDemo(context.Background(), out, nodes, name, kill); err != nil {
		out.printf("demo", "FAILED: %v", err)
		return 1
	}
	return 0
}

// runDemo tells the demo's story on nodes, printing to out. kill makes a
// node die.
func runDemo(ctx context.Context, out *lines, nodes []*node, name string, kill func(i int) string) error {
	n := len(nodes)
	locker, err := core.New(lockNodes(nodes), core.WithTTL(demoTTL))
	if err != nil {
		return err
	}
	defer func() { // before the clients close
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		_ = locker.Wait(ctx)
	}()
	out.printf("demo", "lock %q: TTL %s, kept alive every %s", name, short(demoTTL), short(demoTTL/3))

	type result struct {
		who  string
		err  error
		told time.Time // when the holder learned of its loss
	}
	won := make(chan string, demoWorkers)
	results := make(chan result, demoWorkers)
	t0 := time.Now() // the origin of the timeline
	at := func(d time.Duration) { time.Sleep(time.Until(t0.Add(d))) }
	for i := 1; i <= demoWorkers; i++ {
		who := fmt.Sprintf("worker-%d", i)
		at(time.Duration(i-1) * demoStagger) // the first worker gets the lock on every node
		out.printf(who, "wants %q", name)
		opts := []core.Option{
			core.WithEvents(func(e core.Event) {
				if e.Kind != core.Lost { // the holder says so itself, below
					out.printf(who, "%s", describe(e, n))
				}
			}),
			core.WithRetry(within(retry.Default(), time.Until(t0.Add(demoGiveUpAt)))),
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			var told time.Time
			start := time.Now()
			err := locker.Do(wctx, name, func(ctx context.Context) error {
				won <- who
				start := time.Now()
				select {
				case <-ctx.Done():
				case <-time.After(demoTakeAt + demoTellLimit):
					return errors.New("was never told that its lock was taken away")
				}
				told = time.Now()
				cause := context.Cause(ctx)
				if !errors.Is(cause, core.ErrLockLost) {
					return cause
				}
				out.printf(who, "told: lost %q after holding it %s (%.1f TTLs); stops its work",
					name, short(told.Sub(start)), float64(told.Sub(start))/float64(demoTTL))
				return nil
			}, opts...)
			if errors.Is(err, core.ErrNotAcquired) && !errors.Is(err, core.ErrLockLost) {
				out.printf(who, "gives up after %s: %s", short(time.Since(start)), notAcquired(err, name))
			}
			results <- result{who: who, err: err, told: told}
		}()
	}

	var holder string
	select {
	case holder = <-won:
	case r := <-results:
		return fmt.Errorf("%s: %v", r.who, r.err)
	case <-time.After(demoGiveUpAt):
		return fmt.Errorf("nobody acquired %q within %s: is it held by something else?", name, short(demoGiveUpAt))
	}
	if holder != "worker-1" {
		return fmt.Errorf("%s acquired %q before worker-1 did", holder, name)
	}

	// A node dies; a quorum is left, so the lock holds.
	dead := -1
	at(demoKillAt)
	if n-1 >= quorum(n) {
		dead = n - 1
		how := kill(dead)
		out.printf("demo", "node %s dies: %s; %d of %d nodes are left, a quorum is %d", nodes[dead].addr, how, n-1, n, quorum(n))
	} else {
		out.printf("demo", "with %s no node can die without taking the quorum with it: skipping that step", plural(n, "node"))
	}

	// The others give up waiting: the lock held all along.
	for range demoWorkers - 1 {
		select {
		case r := <-results:
			if !errors.Is(r.err, core.ErrNotAcquired) {
				return fmt.Errorf("%s: expected to give up, got %v", r.who, r.err)
			}
		case <-time.After(time.Until(t0.Add(demoTakeAt))):
			return errors.New("the waiting workers did not give up in time")
		}
	}

	// The lock is taken away; the holder must be told.
	at(demoTakeAt)
	deleted := time.Now()
	var live int
	for i, nd := range nodes {
		if i == dead {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := nd.client.Del(dctx, core.Key(name)).Err()
		cancel()
		if err != nil {
			return fmt.Errorf("deleting %s on %s: %v", core.Key(name), nd.addr, err)
		}
		live++
	}
	out.printf("demo", "deletes %s on the %s still up, as an operator (or an expiry) would", core.Key(name), plural(live, "node"))
	var r result
	select {
	case r = <-results:
	case <-time.After(demoTellLimit):
		return fmt.Errorf("%s was not told within %s that its lock was taken away", holder, short(demoTellLimit))
	}
	switch {
	case !errors.Is(r.err, core.ErrLockLost) || r.told.IsZero():
		return fmt.Errorf("%s: expected to be told of the loss, got %v", r.who, r.err)
	case r.told.Before(deleted):
		return fmt.Errorf("%s lost its lock before it was taken away", r.who)
	}
	survived := " alive through a node failure,"
	if dead < 0 {
		survived = ""
	}
	out.printf("demo", "done: one holder at a time,%s told of its loss %s after the keys went", survived, short(r.told.Sub(deleted)))
	return nil
}

// plural returns "1 node", "2 nodes".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func addrs(nodes []*node) string {
	s := make([]string, len(nodes))
	for i, n := range nodes {
		s[i] = n.addr
	}
	return strings.Join(s, " ")
}

// embeddedServer is an in-process Redis-compatible server on loopback.
// miniredis keeps TTLs still until told that time passed, so a clock
// goroutine tells it, every few milliseconds, to let keys expire as a real
// server would.
type embeddedServer struct {
	mr   *miniredis.Miniredis
	stop chan struct{}
	done chan struct{}
}

// startEmbedded starts n embedded servers and returns nodes for them.
func startEmbedded(n int) ([]*node, []*embeddedServer, error) {
	var servers []*embeddedServer
	var urls []string
	for range n {
		s := &embeddedServer{mr: miniredis.NewMiniRedis(), stop: make(chan struct{}), done: make(chan struct{})}
		if err := s.mr.Start(); err != nil {
			for _, s := range servers {
				s.close()
			}
			return nil, nil, fmt.Errorf("starting an embedded server: %w", err)
		}
		go s.clock()
		servers = append(servers, s)
		urls = append(urls, "redis://"+s.mr.Addr())
	}
	nodes, err := openNodes(strings.Join(urls, ","))
	if err != nil {
		for _, s := range servers {
			s.close()
		}
		return nil, nil, err
	}
	return nodes, servers, nil
}

func (s *embeddedServer) clock() {
	defer close(s.done)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case now := <-tick.C:
			s.mr.FastForward(now.Sub(last))
			last = now
		}
	}
}

// close stops the server; its clients' calls fail from then on. It may be
// called more than once.
func (s *embeddedServer) close() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	<-s.done
	s.mr.Close()
}

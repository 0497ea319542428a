package conformance

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/retry"
)

// The cases of leader election over the adapter's Nodes.
var electionCases = []testCase{
	{"ElectionOneLeaderThroughFaults", 5, testElectionThroughFaults, false},
	{"ElectionObserveWakesOnResign", 3, testElectionObserveWakesOnResign, false},
}

// cutNode is a Node of the adapter under test that can be cut off, as the
// process using it would be by a crash: once cut, every call fails at once
// without reaching the server, so what it holds stays on the servers until
// its TTL.
type cutNode struct {
	core.Node
	cut atomic.Bool
}

var errCut = errors.New("conformance: the process crashed")

func (n *cutNode) Eval(ctx context.Context, s *core.Script, keys, args []string) (any, error) {
	if n.cut.Load() {
		return nil, errCut
	}
	return n.Node.Eval(ctx, s, keys, args)
}

// EvalBatch forwards to the adapter's Batcher, or makes the calls one by one.
func (n *cutNode) EvalBatch(ctx context.Context, calls []core.Call) {
	if b, ok := n.Node.(core.Batcher); ok && !n.cut.Load() {
		b.EvalBatch(ctx, calls)
		return
	}
	for i := range calls {
		calls[i].Reply, calls[i].Err = n.Eval(ctx, calls[i].Script, calls[i].Keys, calls[i].Args)
	}
}

// Listen forwards to the adapter's Subscriber.
func (n *cutNode) Listen(ctx context.Context, pattern string, ready func(), deliver func(string)) error {
	s, ok := n.Node.(core.Subscriber)
	if !ok || n.cut.Load() {
		return errCut
	}
	return s.Listen(ctx, pattern, ready, deliver)
}

// process is one campaigning process: a Locker over Nodes of its own.
type process struct {
	locker *core.Locker
	nodes  []*cutNode
}

func (f *Fixture) newProcess(opts ...core.Option) *process {
	f.T.Helper()
	p := &process{}
	var nodes []core.Node
	for _, s := range f.Servers {
		n := &cutNode{Node: f.h.NewNode(f.T, s.Addr)}
		p.nodes = append(p.nodes, n)
		nodes = append(nodes, n)
	}
	l, err := core.New(nodes, opts...)
	require.NoError(f.T, err)
	p.locker = l
	return p
}

// crash cuts the process off from every server.
func (p *process) crash() {
	for _, n := range p.nodes {
		n.cut.Store(true)
	}
}

// testElectionThroughFaults: campaigning processes take turns leading
// while one server at a time is paused; each leader resigns, or crashes
// (its keys stay until they expire). Within their validity there is never
// more than one leader; terms strictly increase; an observer sees every
// leader, in order; and each leader finds itself in Leader and in
// InspectElection.
func testElectionThroughFaults(f *Fixture) {
	const (
		campaigners = 4
		ttl         = 500 * time.Millisecond
		run         = 4 * time.Second
	)
	opts := []core.Option{core.WithTTL(ttl), core.WithNodeTimeout(50 * time.Millisecond),
		core.WithRetry(retry.Random(time.Millisecond, 10*time.Millisecond))}
	end := time.Now().Add(run)

	var (
		mu       sync.Mutex
		observed []core.Term
		seen     = sync.NewCond(&mu)
	)
	octx, stopObserving := context.WithCancel(f.Ctx)
	observing := make(chan struct{})
	go func() {
		defer close(observing)
		for v := range f.newProcess(opts...).locker.NewElection("leader").ObserveTerms(octx) {
			mu.Lock()
			observed = append(observed, v)
			seen.Broadcast()
			mu.Unlock()
		}
	}()
	// waitSeen waits until the observer has reported term, or until
	// deadline; it reports whether it had. (A failed round of a Campaign
	// can show as a leadership with the same value and another term: see
	// Election.Observe.)
	waitSeen := func(term core.Term, deadline time.Time) bool {
		stop := time.AfterFunc(time.Until(deadline), func() { mu.Lock(); seen.Broadcast(); mu.Unlock() })
		defer stop.Stop()
		mu.Lock()
		defer mu.Unlock()
		for !slices.Contains(observed, term) && time.Now().Before(deadline) {
			seen.Wait()
		}
		return slices.Contains(observed, term)
	}

	faults := make(chan struct{})
	go func() { // a minority fault: one server paused at a time
		defer close(faults)
		for time.Now().Before(end) {
			s := f.Servers[rand.IntN(len(f.Servers))]
			s.Pause()
			_ = Job(f.Ctx, time.Duration(50+rand.IntN(150))*time.Millisecond)
			s.Resume()
			_ = Job(f.Ctx, time.Duration(rand.IntN(100))*time.Millisecond)
		}
	}()

	type term struct {
		value string
		fence uint64
		from  time.Time
	}
	var (
		h       History
		terms   []term
		crashes atomic.Int32
	)
	var wg sync.WaitGroup
	for c := range campaigners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := f.newProcess(opts...)
			for k := 0; time.Now().Before(end); k++ {
				e := p.locker.NewElection("leader")
				value := fmt.Sprintf("campaigner %d, term %d", c, k)
				ctx, cancel := context.WithDeadline(f.Ctx, end)
				err := e.Campaign(ctx, value)
				cancel()
				if err != nil {
					continue
				}
				from, done := time.Now(), e.Done()
				mu.Lock()
				terms = append(terms, term{value, e.Fence(), from})
				mu.Unlock()
				if v, err := e.Leader(f.Ctx); assert.NoError(f.T, err, value) {
					assert.Equal(f.T, value, v, "Leader")
				}
				if info, err := p.locker.InspectElection(f.Ctx, "leader"); assert.NoError(f.T, err, value) {
					assert.Equal(f.T, value, info.Metadata, "InspectElection")
					assert.Equal(f.T, e.Fence(), info.Token, "InspectElection's term")
				}
				assert.True(f.T, waitSeen(core.Term{Value: value, Fence: e.Fence()}, time.Now().Add(2*time.Second)), "Observe did not report %q", value)
				_ = Job(f.Ctx, time.Duration(rand.IntN(30))*time.Millisecond)
				if rand.IntN(3) == 0 {
					crashes.Add(1)
					p.crash() // its keys stay until their TTL; it learns of the loss by Done
					select {
					case <-done:
					case <-f.Ctx.Done():
					}
					h.Add(value, -1, from, time.Now())
					assert.ErrorIs(f.T, e.Err(), core.ErrLockLost)
					p = f.newProcess(opts...) // restarted
					continue
				}
				to := time.Now()
				if until := e.Until(); until.Before(to) {
					to = until
				}
				h.Add(value, -1, from, to)
				_ = e.Resign(f.Ctx)
			}
		}()
	}
	wg.Wait()
	<-faults
	stopObserving()
	<-observing

	h.Check(f.T, 1)
	f.T.Logf("%d terms, %d of them ended by a crash; %d leaders observed", len(terms), crashes.Load(), len(observed))
	require.Greater(f.T, len(terms), 4, "too few terms to tell")
	sort.Slice(terms, func(i, j int) bool { return terms[i].from.Before(terms[j].from) })
	for i := 1; i < len(terms); i++ {
		assert.Greater(f.T, terms[i].fence, terms[i-1].fence, "the term of %q after %q", terms[i].value, terms[i-1].value)
	}
	// Every leader was observed, in the order of the terms.
	k := 0
	for _, v := range observed {
		if k < len(terms) && v == (core.Term{Value: terms[k].value, Fence: terms[k].fence}) {
			k++
		}
	}
	assert.Equal(f.T, len(terms), k, "Observe saw the leaders out of order:\n%v\nleaders:\n%v", observed, terms)
}

// testElectionObserveWakesOnResign: an observer learns of a new leader at
// once after a resignation, woken by the release, not at its next look a
// second later.
func testElectionObserveWakesOnResign(f *Fixture) {
	subscriber(f)
	l := f.Locker(core.WithTTL(10 * time.Second))
	a, b := l.NewElection("observed"), l.NewElection("observed")
	require.NoError(f.T, a.Campaign(f.Ctx, "a"))
	seen := l.NewElection("observed").Observe(f.Ctx)
	next := func() string {
		select {
		case v := <-seen:
			return v
		case <-f.Ctx.Done():
			f.T.Fatal("Observe reported nothing")
			return ""
		}
	}
	assert.Equal(f.T, "a", next())
	f.WaitSubscribed()
	led := make(chan error, 1)
	go func() { led <- b.Campaign(f.Ctx, "b") }()
	resigned := time.Now()
	require.NoError(f.T, a.Resign(f.Ctx))
	assert.Equal(f.T, "b", next())
	assert.Less(f.T, time.Since(resigned), 500*time.Millisecond, "Observe was not woken by the release")
	require.NoError(f.T, <-led)
	assert.Greater(f.T, b.Fence(), uint64(0))
	require.NoError(f.T, b.Resign(f.Ctx))
}

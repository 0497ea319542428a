package core

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// maxRepeats bounds the repeats of one call whose connection broke: each
// costs a dead connection of the client's pool (a pool keeps a few; rueidis
// spreads calls over one to a few pipelines).
const maxRepeats = 8

// quietFor is how long a node whose repeats ran into the call's deadline
// gets no repeats: a node that resets every connection would otherwise
// cost each call its whole deadline. (A node that is down refuses the
// repeat at once, and is repeated again when it is back.)
const quietFor = time.Second

// nodeSet is the nodes of a Locker as rounds and the keeper reach them:
// every call to a node goes through eval.
type nodeSet struct {
	nodes     []Node
	quorum    int
	pending   pending        // node calls running in the background (see Locker.Wait)
	quiet     []atomic.Int64 // by node: no repeats until then, in Unix ns (see quietFor)
	deadlines deadlines      // the node deadline its rounds share
}

func newNodeSet(nodes []Node) nodeSet {
	return nodeSet{nodes: nodes, quorum: len(nodes)/2 + 1, quiet: make([]atomic.Int64, len(nodes))}
}

// eval sends c to node i under ctx, derived from the caller's parent. It
// repeats the call while its error says the connection broke, within ctx
// and at most maxRepeats times: every script is safe to repeat, and one
// server restart can leave a pool with several connections it cut. A node
// whose repeats ran into the deadline is not repeated for quietFor.
func (s *nodeSet) eval(ctx, parent context.Context, detached bool, i int, c *call) reply {
	n := s.nodes[i]
	v, err := n.Eval(ctx, c.script, c.keys, c.args)
	repeated := false
	if err != nil && brokenConn(err) && time.Now().UnixNano() >= s.quiet[i].Load() {
		for k := 0; k < maxRepeats && err != nil && brokenConn(err) && ctx.Err() == nil; k++ {
			repeated = true
			v, err = n.Eval(ctx, c.script, c.keys, c.args)
		}
		if err != nil && ctx.Err() != nil {
			s.quiet[i].Store(time.Now().Add(quietFor).UnixNano())
		}
	}
	if err != nil {
		if deadlineReached(ctx, err) && (detached || parent.Err() == nil) {
			err = ErrNodeTimeout
		}
		return reply{state: failed, err: &NodeError{Addr: n.Addr(), Err: err}, unsent: !repeated && notSent(err), reject: rejectedReply(err)}
	}
	if repeated {
		s.quiet[i].Store(0)
	}
	return c.decode(n.Addr(), v, repeated)
}

// deadlineReached reports whether the call under ctx that failed with err
// ran into ctx's deadline: ctx says so, or err is a timeout and the
// deadline has passed. A client that enforces the deadline itself (a read
// deadline on its connection, a timer of its own) can return before ctx's
// own timer has ended it.
func deadlineReached(ctx context.Context, err error) bool {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && !time.Now().Before(deadline) && timeoutErr(err)
}

// callNode sends c to node i on its own, after a round: with a fresh node
// timeout, from a context that the caller's ending does not cancel.
func (s *nodeSet) callNode(parent context.Context, timeout time.Duration, i int, c *call) reply {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), timeout)
	defer cancel()
	return s.eval(ctx, parent, true, i, c)
}

// settleNode sends c, a call that takes back what a round wrote (an undo,
// a release), to node i. A node that does not answer in time, or that
// answers that it holds nothing to take back while unsure is set (the
// round's own call to the node failed, so that its script may still run
// after c, on another connection), is asked again in the background (see
// retryNode).
func (s *nodeSet) settleNode(parent context.Context, timeout time.Duration, i int, c *call, unsure bool) {
	switch s.callNode(parent, timeout, i, c).state {
	case granted:
		return
	case refused:
		if !unsure {
			return
		}
	}
	s.retryNode(parent, timeout, i, c, unsure)
}

// retryNode asks node i again for c, a call safe whenever it runs, in the
// background, until it takes something back (or, unless unsure, finds
// nothing to take back): after one and then two more
// node timeouts (undoRetries), given four node timeouts each time, so that
// a call held on its way for up to about three node timeouts is still
// settled, and Locker.Wait waits that long at most. A key left behind
// would turn every contender away from the node until its TTL.
func (s *nodeSet) retryNode(parent context.Context, timeout time.Duration, i int, c *call, unsure bool) {
	s.pending.add()
	go func() {
		defer s.pending.done()
		wait := timeout
		t := time.NewTimer(wait)
		defer t.Stop()
		for range undoRetries {
			<-t.C
			if st := s.callNode(parent, 4*timeout, i, c).state; st == granted || (st == refused && !unsure) {
				return
			}
			wait *= 2
			t.Reset(wait)
		}
	}()
}

// pending counts a Locker's node calls that may outlive the operation that
// made them: the rest of a round after it decided, the cleanup of a failed
// round, the release of an acquire that landed after Unlock.
type pending struct {
	n    atomic.Int64
	mu   sync.Mutex
	idle chan struct{} // made by Wait while n > 0, closed when n comes back to 0
}

func (p *pending) add() { p.n.Add(1) }

func (p *pending) done() {
	if p.n.Add(-1) == 0 {
		p.mu.Lock()
		if p.idle != nil && p.n.Load() == 0 {
			close(p.idle)
			p.idle = nil
		}
		p.mu.Unlock()
	}
}

// wait blocks until no call is pending, or until ctx ends.
func (p *pending) wait(ctx context.Context) error {
	p.mu.Lock()
	if p.n.Load() == 0 {
		p.mu.Unlock()
		return nil
	}
	if p.idle == nil {
		p.idle = make(chan struct{})
	}
	idle := p.idle
	p.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// batchParallelism bounds the calls in flight to one Node without Batcher.
const batchParallelism = 8

// evalBatch runs calls on n, pipelined when n is a Batcher.
func evalBatch(ctx context.Context, n Node, calls []Call) {
	if b, ok := n.(Batcher); ok {
		b.EvalBatch(ctx, calls)
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(batchParallelism, len(calls)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c := &calls[i]
				c.Reply, c.Err = n.Eval(ctx, c.Script, c.Keys, c.Args)
			}
		}()
	}
	for i := range calls {
		next <- i
	}
	close(next)
	wg.Wait()
}

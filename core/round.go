package core

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// state is what one node's reply says about the lock.
type state uint8

const (
	refused   state = iota // the node answered no
	granted                // the script did its work: wrote, extended or released the key
	refreshed              // acquire found our owner's key and reset its TTL
	failed                 // an error: the outcome is unknown
)

type reply struct {
	state   state
	err     error // why a node refused or failed; nil when it went along
	counter int64 // with fencing: the node's fencing counter
}

// round sends one script to every node in parallel. Each call is bounded by
// the node timeout. collect returns as soon as the outcome is decided; calls
// still in flight finish in the background, and the last one to finish
// releases the round's context. When undo is set at decision time, every
// node that may have been written by an acquire round is released again
// (those that had answered before collect returns, those still in flight
// once they answer).
type round struct {
	l          *Locker
	script     *Script
	keys, args []string
	timeout    time.Duration
	parent     context.Context
	ctx        context.Context
	cancel     context.CancelFunc
	replies    chan indexed
	inFlight   atomic.Int32

	decided  chan struct{}
	undo     string // after decided: release what this round may have written, which has this nonce
	answered []bool // after decided: nodes whose reply collect saw
	cleaned  sync.WaitGroup

	// After a successful acquisition: an Unlock that comes while some
	// node's acquire is still in flight leaves its release arguments here,
	// and that node is released again once its acquire has landed.
	late     sync.Mutex
	landed   []bool
	lateArgs []string

	skip []bool // nodes the round does not call; they count as not going along

	undoRefreshed bool // a failed round releases refreshed nodes too: the Mutex held no lock

	first     int   // node whose call should go out first, or -1
	gate      int   // node asked first, alone, or -1 (see Mutex.tryLock)
	gateReply reply // its reply
}

type indexed struct {
	node int
	reply
}

func (l *Locker) newRound(ctx context.Context, timeout time.Duration, s *Script, keys, args []string) *round {
	r := &round{l: l, script: s, keys: keys, args: args, timeout: timeout, parent: ctx, gate: -1, first: -1}
	if len(l.nodes) == 1 {
		// One node is the whole quorum: nothing to wait for but its answer,
		// which validity accounts for. The call runs inline under ctx.
		r.ctx, r.cancel = ctx, func() {}
	} else {
		r.bound(s, timeout)
	}
	r.decided = make(chan struct{})
	r.inFlight.Store(int32(len(l.nodes)))
	if s == acquireScript || s == handoverScript {
		// It writes for an owner: nodes are undone or released late.
		r.landed = make([]bool, len(l.nodes))
	}
	return r
}

// bound gives the round's calls their per-node timeout.
func (r *round) bound(s *Script, timeout time.Duration) {
	ctx := r.parent
	if s == releaseScript || s == handoverScript {
		// Releases and hand-overs run to the end even when the caller stops
		// waiting, so that nothing stays locked: the call returns when ctx
		// ends, the calls still in flight keep their own node timeout.
		ctx = context.WithoutCancel(ctx)
	}
	r.ctx, r.cancel = context.WithTimeout(ctx, timeout)
}

// start sends the script to every node. With one node the call is made
// inline and its reply is waiting in r.replies when start returns.
func (r *round) start() {
	n := len(r.l.nodes)
	r.replies = make(chan indexed, n)
	if n == 1 {
		r.replies <- indexed{0, r.eval(0)}
		return
	}
	if r.gate >= 0 {
		// Ask the gate node first, inline: a refusal there ends the round
		// before anything is written elsewhere.
		rep := r.eval(r.gate)
		r.replies <- indexed{r.gate, rep}
		r.gateReply = rep
		r.skip = make([]bool, n)
		r.skip[r.gate] = true
		if rep.state == refused {
			for i := range r.skip {
				r.skip[i] = true
			}
		}
		r.inFlight.Add(-1) // the gate's call is finished by decide
	}
	n0 := len(r.l.nodes)
	for k := range n0 {
		i := k
		if r.first >= 0 {
			i = (r.first + 1 + k) % n0 // the first node's call is made last, and so runs first
		}
		if r.skip != nil && r.skip[i] {
			if r.inFlight.Add(-1) == 0 {
				r.cancel()
			}
			continue
		}
		r.l.pending.add()
		go func() {
			defer r.l.pending.done()
			rep := r.eval(i)
			if r.gate >= 0 && r.gateReply.state != failed && rep.state == refused {
				// The gate let us through, so the last holder has released
				// it; its releases of the other nodes, sent together with
				// the gate's, are most likely in by now: ask once more.
				rep = r.eval(i)
			}
			r.replies <- indexed{i, rep}
			r.finish(i, rep)
		}()
	}
}

func (r *round) eval(i int) reply {
	n := r.l.nodes[i]
	v, err := n.Eval(r.ctx, r.script, r.keys, r.args)
	if err != nil {
		if r.parent.Err() == nil && errors.Is(r.ctx.Err(), context.DeadlineExceeded) {
			err = ErrNodeTimeout
		}
		return reply{failed, &NodeError{Addr: n.Addr(), Err: err}, 0}
	}
	var counter int64
	if pair, isPair := v.([]any); isPair && len(pair) == 2 && r.script == acquireScript {
		v = pair[0]
		counter, _ = pair[1].(int64)
	}
	code, ok := v.(int64)
	switch {
	case !ok || code < 0 || code > 2 || (code == 2 && r.script != acquireScript):
		return reply{failed, &NodeError{Addr: n.Addr(), Err: errUnexpected(v, r.script)}, 0}
	case code == 0 && r.script == acquireScript:
		return reply{refused, &NodeError{Addr: n.Addr(), Err: ErrHeldByOther}, 0}
	case code == 0:
		return reply{refused, &NodeError{Addr: n.Addr(), Err: ErrNotHeld}, 0}
	case code == 2:
		return reply{refreshed, nil, counter}
	}
	return reply{granted, nil, counter}
}

// finish runs after node i's reply is in: it waits for the decision, undoes
// the node's write if the round failed, and closes the round's context after
// the last node.
func (r *round) finish(i int, rep reply) {
	if r.landed != nil {
		<-r.decided
		written := rep.state != refused
		switch {
		case r.undoes(rep):
			r.l.releaseNode(r.parent, r.timeout, i, r.keys, r.undoArgs())
			if r.answered[i] {
				r.cleaned.Done()
			}
		case r.undo == "" && !r.answered[i]:
			r.late.Lock()
			r.landed[i] = true
			args := r.lateArgs
			r.late.Unlock()
			if args != nil && written {
				r.l.releaseNode(r.parent, r.timeout, i, r.keys, args)
			}
		}
	}
	if r.inFlight.Add(-1) == 0 {
		r.cancel()
	}
}

// collect reads replies until the outcome is decided: a quorum went along,
// or so many did not that a quorum is impossible, or until the caller's
// context ends. It returns how many went along and the node errors seen.
func (r *round) collect() (ok int, story []error, replies []reply) {
	n, q := len(r.l.nodes), r.l.quorum
	replies = make([]reply, n)
	r.answered = make([]bool, n)
	no := 0
	for i := range r.skip {
		if r.skip[i] && i != r.gate {
			no++
		}
	}
	for first := r.gate >= 0; first || (ok < q && no <= n-q); first = false {
		var in indexed
		if first {
			in = <-r.replies // the gate's reply, there since start
		} else {
			select {
			case in = <-r.replies:
			case <-r.parent.Done():
				return ok, story, replies
			}
		}
		replies[in.node] = in.reply
		r.answered[in.node] = true
		if in.state == granted || in.state == refreshed {
			ok++
			continue
		}
		no++
		story = append(story, in.err)
	}
	return ok, story, replies
}

// decide publishes the decision to the nodes' goroutines. With undo set, it
// waits until every node that has answered and may have been written is
// released again; nodes still in flight are released in the background.
func (r *round) decide(undo string, replies []reply) {
	if undo != "" {
		r.undo = undo
		for i, rep := range replies {
			if r.answered[i] && r.undoes(rep) {
				r.cleaned.Add(1)
			}
		}
	}
	close(r.decided)
	switch {
	case len(r.l.nodes) == 1:
		r.finish(0, replies[0])
	case r.gate >= 0:
		r.finishGate()
	}
	r.cleaned.Wait()
}

// undoes reports whether a failed round releases the node that gave rep:
// it may have written there, and the write was not a refresh of a lock the
// Mutex still holds.
func (r *round) undoes(rep reply) bool {
	if r.undo == "" {
		return false
	}
	return rep.state == granted || rep.state == failed || (rep.state == refreshed && r.undoRefreshed)
}

// undoArgs are the release arguments that undo this round's write: its
// owner prefix and nonce, not announced. The round did not hold the lock:
// announcing its cleanup would wake the waiters while the lock is still
// held, whose rounds would fail the same way and announce their own
// cleanup in turn. (When a split vote leaves the lock free, the gate and
// the waiters' delays sort it out.)
func (r *round) undoArgs() []string {
	return []string{r.args[0], r.undo, r.undo, "0"}
}

// finishGate finishes the gate node's call, which ran inline.
func (r *round) finishGate() {
	if r.undoes(r.gateReply) {
		r.l.releaseNode(r.parent, r.timeout, r.gate, r.keys, r.undoArgs())
		r.cleaned.Done()
	}
}

// releaseLate has nodes whose acquire is still in flight released with args
// once it lands. It reports nothing: those nodes are a minority.
// It returns the nodes that will be released late, nil when there are none.
func (r *round) releaseLate(args []string) []bool {
	r.late.Lock()
	defer r.late.Unlock()
	var pending []bool
	for i, landed := range r.landed {
		if !landed && !r.answered[i] {
			if pending == nil {
				pending = make([]bool, len(r.landed))
			}
			pending[i] = true
		}
	}
	if pending != nil {
		r.lateArgs = args
	}
	return pending
}

// drain waits up to grace for the replies of nodes that had not answered
// when collect returned, so that a failed round can release them before it
// returns: a write left behind by a round that lost holds its node against
// every contender until the background release lands.
func (r *round) drain(replies []reply, grace time.Duration) {
	missing := 0
	for i := range replies {
		if !r.answered[i] && (r.skip == nil || !r.skip[i]) {
			missing++
		}
	}
	if missing == 0 {
		return
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	for ; missing > 0; missing-- {
		select {
		case in := <-r.replies:
			replies[in.node] = in.reply
			r.answered[in.node] = true
		case <-t.C:
			return
		}
	}
}

// releaseNode runs the release script with args on node i.
// It runs after a failed round, also when the caller's context has ended,
// so it takes a fresh per-node timeout from a context that is never cancelled.
func (l *Locker) releaseNode(parent context.Context, timeout time.Duration, i int, keys, args []string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), timeout)
	defer cancel()
	_, _ = l.nodes[i].Eval(ctx, releaseScript, keys, args)
}

// nonce returns an identifier for one acquisition round: 16 hex digits
// that increase strictly within the process and follow the wall clock in
// nanoseconds across processes of one host. Unlock releases only nonces
// issued before it started, and a failed round's cleanup only its own.
func nonce() string {
	for {
		last := lastNonce.Load()
		next := max(last+1, uint64(time.Now().UnixNano()))
		if lastNonce.CompareAndSwap(last, next) {
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], next)
			return hex.EncodeToString(b[:])
		}
	}
}

var lastNonce atomic.Uint64

const lowestNonce = "0000000000000000"

func errUnexpected(v any, s *Script) error {
	return fmt.Errorf("unexpected reply %#v to %s", v, s.name)
}

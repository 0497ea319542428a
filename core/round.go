package core

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// This file is the round engine: the one place that sends a call to the
// nodes, gathers their replies, decides when enough came back, and, for
// calls that may create a key for an owner, undoes what a failed round may
// have written or releases late what a kept one wins after its decision.
// Operations (Mutex, the hand-over) build a call, run it, read the tally
// and keep or undo the round; none drives the nodes by hand.

// shape is how a round reaches the nodes.
type shape struct {
	gate  int    // the node asked first, alone, or -1: a refusal there ends the round
	first int    // the node whose call goes out first, or -1
	skip  []bool // nodes the round does not call (nil: none); they count as failed

	// awaitFirst has a round that succeeds at a quorum wait for the first
	// node's reply too (within the node timeout): a release, so that the
	// node that gated rounds ask alone is free when Unlock returns.
	awaitFirst bool
}

var everyNode = shape{gate: -1, first: -1}

// tally is what a round heard.
type tally struct {
	replies  []reply // by node
	answered []bool  // by node: the reply is in replies
	yes      int     // granted or refreshed
	fresh    int     // refreshed
	no       int     // refused
	failed   int     // failed or skipped
	rejected int     // failed: the node rejected the command itself
	errs     []error // the NodeErrors of the nodes that did not go along, in the order they came
}

func (t *tally) add(i int, rep reply) {
	t.replies[i], t.answered[i] = rep, true
	switch rep.state {
	case granted:
		t.yes++
	case refreshed:
		t.yes++
		t.fresh++
	case refused:
		t.no++
	default:
		t.failed++
		if rep.reject {
			t.rejected++
		}
	}
	if rep.err != nil && !errors.Is(rep.err, errAbandoned) {
		t.errs = append(t.errs, rep.err) // a call not sent has nothing to say about the node
	}
}

// round is one call sent to every node of a Locker.
type round struct {
	s        *nodeSet
	c        *call
	timeout  time.Duration
	parent   context.Context // the caller's
	ctx      context.Context // the calls': the node timeout, over parent unless the call is detached
	cancel   context.CancelFunc
	nctx     nodeCtx       // ctx under a shared deadline (see deadlines)
	replies  chan int      // the nodes whose reply is in got, as they come
	got      []reply       // by node: its reply, written by its call before it is sent on replies
	inFlight atomic.Int32  // node calls not yet finished
	allIn    chan struct{} // made by settle while calls are in flight, closed when the last has landed
	pending  int           // calls whose reply collect has not seen
	await    int           // a node whose reply a successful round waits for, or -1
	t        tally
	took     time.Duration // from the start of run to the decision

	// For calls that write or settle (decides): opened by keep, undo or
	// settleHeard, which the node goroutines wait for before they finish.
	decides bool
	decided latch
	undone  bool // set before decided opens: the round failed

	// After keep: the nodes whose call came back only after the decision,
	// and the call they get once they land (see releaseLate).
	late     sync.Mutex
	landed   []bool
	lost     uint64 // nodes that landed with a failed reply, their call sent
	lateCall *call
	waitNode int           // with waitCh: the node waitLanded waits for
	waitCh   chan struct{} // closed when waitNode lands (see waitLanded)

	// Set once the holding the round won was released: a call of the round
	// not sent yet is not sent at all.
	abandoned atomic.Bool

	// Storage for the slices above on up to inlineNodes nodes, so that a
	// round allocates them with itself.
	inline struct {
		replies  [inlineNodes]reply
		answered [inlineNodes]bool
		landed   [inlineNodes]bool
		got      [inlineNodes]reply
		calls    [inlineNodes]int
	}
}

// inlineNodes is the most nodes whose round state comes inline.
const inlineNodes = 7

// run sends c to the nodes in shape s, each call bounded by timeout, and
// returns once the round is decided (see call.decided) or ctx ends. Calls
// still in flight go on in the background, counted by the Locker's Wait.
// For a call that writes, the caller must then keep or undo the round.
func (ns *nodeSet) run(ctx context.Context, timeout time.Duration, c *call, s shape) *round {
	start := time.Now()
	n := len(ns.nodes)
	r := &round{s: ns, c: c, timeout: timeout, parent: ctx, await: -1}
	if n <= len(r.inline.replies) {
		r.t.replies, r.t.answered = r.inline.replies[:n:n], r.inline.answered[:n:n]
	} else {
		r.t.replies, r.t.answered = make([]reply, n), make([]bool, n)
	}
	if c.writes || c.settles {
		r.decides = true
		r.decided.arm()
	}
	if c.writes {
		if n <= len(r.inline.landed) {
			r.landed = r.inline.landed[:n:n]
		} else {
			r.landed = make([]bool, n)
		}
	}
	base := ctx
	if c.detach && ctx.Done() != nil {
		base = context.WithoutCancel(ctx)
	}
	if n == 1 {
		// One node is the whole quorum: nothing to wait for but its answer,
		// which validity accounts for. The call runs inline, bounded by ctx.
		r.ctx, r.cancel = base, func() {}
		r.t.add(0, r.eval(0))
		if c.settles {
			r.settleHeard()
		}
		return r
	}
	r.bound(base)
	skip := s.skip
	gateLetThrough := false
	if s.gate >= 0 && (skip == nil || !skip[s.gate]) {
		// Ask the gate alone first: a refusal there ends the round before
		// anything is written elsewhere.
		rep := r.eval(s.gate)
		r.t.add(s.gate, rep)
		skip = make([]bool, n)
		copy(skip, s.skip)
		skip[s.gate] = true
		if rep.state == refused {
			for i := range skip {
				skip[i] = true
			}
		}
		gateLetThrough = rep.state != failed && rep.state != refused
		if rep.state == failed {
			// A hung gate took the whole node timeout: the other nodes get
			// one of their own, as if the round began now.
			r.cancel()
			r.bound(base)
		}
	}
	r.replies = make(chan int, n)
	if n <= len(r.inline.got) {
		r.got = r.inline.got[:n:n]
	} else {
		r.got = make([]reply, n)
	}
	calls := r.inline.calls[:0]
	for k := range n {
		i := k
		if s.first >= 0 {
			i = (s.first + 1 + k) % n // the first node's call is made last, and so runs first
		}
		switch {
		case skip == nil || !skip[i]:
			calls = append(calls, i)
		case !r.t.answered[i]:
			r.t.failed++ // not called: it does not go along
		}
	}
	if s.awaitFirst && s.first >= 0 && (skip == nil || !skip[s.first]) {
		r.await = s.first
	}
	r.pending = len(calls)
	r.inFlight.Store(int32(len(calls)))
	if len(calls) == 0 {
		r.cancel()
	} else if c.bg != nil {
		c.bg.add() // done by the last call to land
	}
	for _, i := range calls {
		ns.pending.add()
		nodeTask{r, i, gateLetThrough}.start()
	}
	r.collect(ctx)
	r.took = time.Since(start)
	if c.settles {
		r.settleHeard()
	}
	return r
}

// call sends the round's call to node i, from a worker (see nodeTask), and
// lands it. gateLetThrough is set when the lock's gate granted first.
func (r *round) call(i int, gateLetThrough bool) {
	defer r.s.pending.done()
	var rep reply
	switch {
	case r.abandoned.Load():
		// Not sent: as if the request were lost. Sending it now would only
		// lock the node again until its undo or release lands.
		rep = reply{state: failed, err: &NodeError{Addr: r.s.nodes[i].Addr(), Err: errAbandoned}, unsent: true}
	default:
		rep = r.eval(i)
		if gateLetThrough && rep.state == refused {
			// The gate let us through, so the last holder has released it;
			// its releases of the other nodes, sent together with the
			// gate's, are most likely in by now: ask once more.
			rep = r.eval(i)
		}
	}
	r.got[i] = rep
	r.replies <- i
	r.land(i, rep)
}

// bound sets the round's context for its node calls: the node timeout
// from now, over base.
func (r *round) bound(base context.Context) {
	if base.Done() != nil {
		r.ctx, r.cancel = context.WithTimeout(base, r.timeout)
		return
	}
	r.nctx = nodeCtx{Context: r.s.deadlines.after(r.timeout), values: base}
	r.ctx, r.cancel = &r.nctx, func() {}
}

// collect reads replies until the round is decided or ctx ends.
func (r *round) collect(ctx context.Context) {
	for r.pending > 0 && !r.heard() {
		select {
		case i := <-r.replies:
			r.pending--
			r.t.add(i, r.got[i])
		case <-ctx.Done():
			return
		}
	}
}

// heard reports whether the round has heard enough: it is decided, and,
// when it succeeded, the node it awaits has answered.
func (r *round) heard() bool {
	if !r.c.decided(&r.t, r.pending) {
		return false
	}
	return r.await < 0 || r.t.answered[r.await] || r.t.yes < r.c.need
}

// decided reports whether a round of c that heard t, with pending calls
// still out, has heard enough: success (unless the call waits for every
// node), or success became impossible; a release also stops once a quorum
// answered that the lock is not the owner's.
func (c *call) decided(t *tally, pending int) bool {
	switch {
	case t.yes >= c.need:
		return !c.wait
	case c.script == releaseScript:
		return t.no >= c.need
	}
	return t.yes+pending < c.need
}

// eval sends the round's call to node i.
func (r *round) eval(i int) reply {
	return r.s.eval(r.ctx, r.parent, r.c.detach, i, r.c)
}

// land finishes node i's call after its reply rep is in: for a call that
// writes, it waits for the decision and then undoes the node's write, or
// gives it the late call, if collect had not seen the reply. The last call
// to finish releases the round's context.
func (r *round) land(i int, rep reply) {
	if r.decides {
		r.decided.wait()
		switch {
		case r.t.answered[i]:
			// collect saw the reply: keep, undo or settleHeard has dealt with it.
		case r.c.settles:
			r.resettle(i, rep)
		case r.undone:
			if rep.state != refused && !rep.unsent {
				r.undoNode(i, rep.state == failed)
			}
		default:
			r.late.Lock()
			r.landed[i] = true
			if rep.state == failed && !rep.unsent && i < 64 {
				r.lost |= 1 << i
			}
			lc := r.lateCall
			if r.waitCh != nil && r.waitNode == i {
				close(r.waitCh)
				r.waitCh = nil
			}
			r.late.Unlock()
			if lc != nil && rep.state != refused && !rep.unsent {
				// Unsure when the acquire's reply failed: it may still run
				// after the release, on a connection of its own.
				r.s.settleNode(r.parent, r.timeout, i, lc, rep.state == failed)
			}
		}
	}
	if r.inFlight.Add(-1) == 0 {
		r.cancel()
		if r.c.bg != nil {
			r.c.bg.done()
		}
		r.late.Lock()
		if r.allIn != nil {
			close(r.allIn)
		}
		r.late.Unlock()
	}
}

// settleHeard settles a release round (see call.settles) once it is
// decided: the nodes it heard are asked again in the background when
// their reply says so; the others, once they land.
func (r *round) settleHeard() {
	for i, rep := range r.t.replies {
		if r.t.answered[i] {
			r.resettle(i, rep)
		}
	}
	r.decided.open()
}

// resettle asks node i again for the round's release, in the background,
// when its reply rep failed, or found nothing to release on a node where
// the owner's call may still write (see call.unsure).
func (r *round) resettle(i int, rep reply) {
	if rep.state == failed || (rep.state == refused && r.c.unsureOf(i)) {
		r.s.retryNode(r.parent, r.timeout, i, r.c, r.c.unsureOf(i))
	}
}

// unsure returns the nodes where the round's call may still write: its
// reply failed after it was sent (the script may yet run, on a connection
// of its own, after a later call of the owner), or it has not landed. It
// is empty for a call that does not write.
func (r *round) unsure() uint64 {
	if r.landed == nil {
		return 0
	}
	r.late.Lock()
	defer r.late.Unlock()
	m := r.lost
	for i := range min(len(r.landed), 64) {
		switch {
		case r.t.answered[i]:
			if rep := r.t.replies[i]; rep.state == failed && !rep.unsent {
				m |= 1 << i
			}
		case !r.landed[i]:
			m |= 1 << i
		}
	}
	return m
}

// keep settles a round that succeeded: what it wrote stays.
func (r *round) keep() {
	if r.c.writes {
		r.decided.open()
	}
}

// undo settles a round that failed. For a call that takes its claim back
// (call.undo), every node that may hold the claim gets the undo script,
// which removes that claim alone and deletes the key only when no other
// round claims it: what the round created goes, what it refreshed stays.
// It first waits a little for the nodes still in flight (as long again as
// the round took, within the node timeout), so that their writes are gone
// before the next contender tries; it returns once the nodes that granted
// are undone, and undoes the others in the background: those that failed
// at once, those still in flight as soon as they answer. Other calls that
// write settle as with keep.
func (r *round) undo(started time.Time) {
	if !r.c.writes {
		return
	}
	if !r.c.undo {
		r.decided.open()
		return
	}
	r.drain(min(max(time.Since(started), time.Millisecond), r.timeout))
	r.undone = true
	r.decided.open()
	var wg sync.WaitGroup
	for i, rep := range r.t.replies {
		if !r.t.answered[i] || rep.state == refused || rep.unsent {
			continue
		}
		r.s.pending.add()
		if rep.state == failed {
			// Most likely slow or out of reach: undone in the background,
			// rather than holding the caller for another node timeout.
			go func() {
				defer r.s.pending.done()
				r.undoNode(i, true)
			}()
			continue
		}
		wg.Add(1)
		go func() {
			defer r.s.pending.done()
			defer wg.Done()
			r.undoNode(i, false)
		}()
	}
	wg.Wait()
}

// drain waits up to grace for the replies collect has not seen.
func (r *round) drain(grace time.Duration) {
	if r.pending == 0 {
		return
	}
	t := startTimer(grace)
	defer stopTimer(t)
	for r.pending > 0 {
		select {
		case i := <-r.replies:
			r.pending--
			r.t.add(i, r.got[i])
		case <-t.C:
			return
		}
	}
}

// undoNode takes the round's claim back on node i. unsure is set when the
// round's call to the node failed: its script may not have run yet, and
// run after this undo (a request held on the way, or queued on a stalled
// server, can be overtaken by the undo sent on another connection). A
// node that does not answer in time, or that answers unsure that it holds
// no such claim, is asked again in the background, later and given longer
// each time (undoRetries): the claim would otherwise hold the node against
// every contender until its TTL, and an undo is safe whenever it runs.
func (r *round) undoNode(i int, unsure bool) {
	owner, claim := r.c.args[0], r.c.args[1]
	undo := &call{script: undoScript, keys: r.c.keys[:1], args: []string{owner, claim}}
	r.s.settleNode(r.parent, r.timeout, i, undo, unsure)
}

// undoRetries is how many times undoNode asks a node again: one and three
// node timeouts after the first undo, so that an acquire held on its way
// for up to about three node timeouts after its round failed is still
// taken back, and Locker.Wait after a failure waits that long at most.
const undoRetries = 2

// settle waits a little for the round's calls still in flight after keep:
// as long again as the round took to decide (at least a millisecond, at
// most the node timeout). On a healthy node such a call lands within
// microseconds; releasing it together with the others, rather than once
// it lands, leaves the lock free when Unlock returns.
func (r *round) settle() {
	r.late.Lock()
	if r.inFlight.Load() == 0 {
		r.late.Unlock()
		return
	}
	if r.allIn == nil {
		r.allIn = make(chan struct{})
	}
	allIn := r.allIn
	r.late.Unlock()
	t := startTimer(min(max(r.took, time.Millisecond), r.timeout))
	defer stopTimer(t)
	select {
	case <-allIn:
	case <-t.C:
	}
}

// waitLanded waits for node i's call, when it is still in flight after
// keep and settle, to land: Unlock has the gate's acquire land before it
// releases, so that the gate is released with the others, not late, and a
// gated round of another process does not find it held. The wait is
// bounded by gateWait. It reports false when the call is still in flight.
func (r *round) waitLanded(i int) bool {
	if r.landed == nil || i < 0 {
		return true
	}
	r.late.Lock()
	if r.t.answered[i] || r.landed[i] || r.lateCall != nil {
		r.late.Unlock()
		return true
	}
	ch := make(chan struct{})
	r.waitNode, r.waitCh = i, ch
	r.late.Unlock()
	t := startTimer(min(max(gateWaitRounds*r.took, gateWait), r.timeout))
	defer stopTimer(t)
	landed := true
	select {
	case <-ch:
	case <-t.C:
		landed = false
	}
	r.late.Lock()
	if r.waitCh == ch {
		r.waitCh = nil
	}
	r.late.Unlock()
	return landed
}

// A gate's call still in flight after its round was decided is waited for
// up to gateWait, or gateWaitRounds times as long as the round took to
// decide when that is longer, never more than the node timeout: long
// enough for a loaded machine's scheduling delays, short enough that a
// paused gate costs one Unlock a few milliseconds, after which the gate is
// treated as failed for a TTL.
const (
	gateWait       = 20 * time.Millisecond
	gateWaitRounds = 8
)

// releaseLate has the nodes whose call is still in flight, after keep, get
// lc once they land. It returns those nodes, nil when there are none.
func (r *round) releaseLate(lc *call) []bool {
	if r.landed == nil {
		return nil
	}
	r.late.Lock()
	defer r.late.Unlock()
	var pending []bool
	for i, landed := range r.landed {
		if !landed && !r.t.answered[i] {
			if pending == nil {
				pending = make([]bool, len(r.landed))
			}
			pending[i] = true
		}
	}
	if pending != nil {
		r.lateCall = lc
		r.abandoned.Store(true)
	}
	return pending
}

// nonce returns an identifier for one round: 16 hex digits that increase
// strictly within the process and follow the wall clock in nanoseconds
// across processes of one host. Unlock releases only nonces issued before
// it started, and a failed round's undo only what its own nonce created.
func nonce() string {
	for {
		last := lastNonce.Load()
		next := max(last+1, uint64(time.Now().UnixNano()))
		if lastNonce.CompareAndSwap(last, next) {
			return hex16(next)
		}
	}
}

var lastNonce atomic.Uint64

const lowestNonce = "0000000000000000"

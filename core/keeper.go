package core

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// keeper keeps the leases of one Locker alive: one goroutine for all of
// them, running while there is a lease to watch, and extension rounds that
// send the due leases to each node in one pipelined batch. Each lease's
// timing comes from its own policy.
type keeper struct {
	s       *nodeSet
	mu      sync.Mutex
	heap    leaseHeap
	running bool
	batches int // extension batches sent or waiting to be sent
	wake    chan struct{}
	results chan []extendResult
	slots   chan struct{} // one per extension batch in flight (keepInFlight)
}

// An extension round carries at most keepBatch leases to a node, and at
// most keepInFlight such batches are out at once. Every batch must come
// back within the node timeout: a node given tens of thousands of scripts
// at once answers the last of them long after the deadline, when the
// round has already counted them failed, so the leases due at one moment
// go out as a stream of batches, each timed from the moment it is sent.
const (
	keepBatch    = 256
	keepInFlight = 4
)

type extendResult struct {
	lease      *lease
	t          tally
	start, end time.Time
}

func newKeeper(s *nodeSet) *keeper {
	return &keeper{s: s, wake: make(chan struct{}, 1), results: make(chan []extendResult), slots: make(chan struct{}, keepInFlight)}
}

// add starts watching ls.
func (k *keeper) add(ls *lease) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.schedule(ls)
	if !k.running {
		k.running = true
		go k.loop()
	} else {
		k.poke()
	}
}

// reschedule moves ls to its next event after its validity or extension
// plan changed.
func (k *keeper) reschedule(ls *lease) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if ls.index >= 0 || !ls.inFlight {
		k.schedule(ls)
		k.poke()
	}
}

// remove stops watching ls.
func (k *keeper) remove(ls *lease) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if ls.index >= 0 {
		heap.Remove(&k.heap, ls.index)
	}
	k.poke()
}

// schedule puts ls in the heap at its next event: an extension, or the
// moment it must be declared lost. Callers hold k.mu.
func (k *keeper) schedule(ls *lease) {
	ls.mu.Lock()
	if ls.ended {
		ls.mu.Unlock()
		if ls.index >= 0 {
			heap.Remove(&k.heap, ls.index)
		}
		return
	}
	at := ls.pol.lossAt(ls.until)
	if ls.extend && !ls.inFlight && ls.next.Before(at) {
		at = ls.next
	}
	ls.mu.Unlock()
	ls.at = at
	if ls.index >= 0 {
		heap.Fix(&k.heap, ls.index)
	} else {
		heap.Push(&k.heap, ls)
	}
}

func (k *keeper) poke() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

func (k *keeper) loop() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		var due, lost, later []*lease
		k.mu.Lock()
		if len(k.heap) == 0 && k.batches == 0 {
			k.running = false
			k.mu.Unlock()
			return
		}
		// A lease whose extension is due within a quarter of its own period
		// joins this round, so that locks taken at different moments share
		// their round trips.
		for len(k.heap) > 0 && !k.heap[0].at.After(now.Add(k.heap[0].pol.every/4)) {
			ls := heap.Pop(&k.heap).(*lease)
			ls.mu.Lock()
			lossAt, ended := ls.pol.lossAt(ls.until), ls.ended
			extension := ls.extend && !ls.inFlight && ls.next.Before(lossAt) && (!ls.retrying || !ls.next.After(now))
			ls.mu.Unlock()
			switch {
			case ended:
				// Unlock or a loss ended it: it leaves the schedule.
			case !now.Before(lossAt):
				lost = append(lost, ls)
			case !extension:
				later = append(later, ls) // only its loss time is near, or a retry is not due yet
			default:
				ls.inFlight = true
				due = append(due, ls)
				later = append(later, ls) // now at its loss time, in case the round does not come back
			}
		}
		for _, ls := range later {
			k.schedule(ls)
		}
		k.batches += (len(due) + keepBatch - 1) / keepBatch
		wait := time.Hour
		if len(k.heap) > 0 {
			wait = time.Until(k.heap[0].at)
		}
		k.mu.Unlock()

		for _, ls := range lost {
			err := ls.lossError(nil)
			ls.end(err)
			ls.pol.emit(ls.t.name, Event{Kind: Lost, Err: err, KeepAlive: true})
		}
		if len(due) > 0 {
			go k.extend(due)
		}
		timer.Reset(max(wait, 0))
		select {
		case <-timer.C:
		case <-k.wake:
		case rs := <-k.results:
			k.apply(rs)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// extend sends the due leases out in extension rounds of keepBatch at
// most, keepInFlight at a time, and hands each round's results to the
// loop.
func (k *keeper) extend(due []*lease) {
	for len(due) > 0 {
		batch := due[:min(keepBatch, len(due))]
		due = due[len(batch):]
		k.slots <- struct{}{}
		go func() {
			rs := k.extendRound(batch)
			<-k.slots
			k.results <- rs
		}()
	}
}

// extendRound sends the extend call of every lease in batch to every
// node, one pipelined batch per node, all nodes in parallel, and repeats
// the calls whose connection broke. It returns once every lease's
// extension is decided, as a round decides at its first quorum: a node
// that hangs costs no lease its extension. The calls still out finish in
// the background within the node timeout, counted by Locker.Wait; a late
// extension only resets the TTL of the holding's own key.
func (k *keeper) extendRound(batch []*lease) []extendResult {
	nodes := k.s.nodes
	timeout := batch[0].pol.nodeTimeout
	for _, ls := range batch[1:] {
		timeout = min(timeout, ls.pol.nodeTimeout)
	}
	ext := make([]*call, len(batch))
	for j, ls := range batch {
		ext[j] = extendCall(ls.t, ls.pol, ls.prefix, ls.claim)
	}
	start := time.Now()
	// The calls' context outlives the decision: the last node batch to
	// finish releases it.
	var bound struct {
		ctx    context.Context
		cancel context.CancelFunc
	}
	bound.ctx, bound.cancel = context.WithTimeout(context.Background(), timeout)
	ctx := bound.ctx
	calls := make([][]Call, len(nodes))
	repeated := make([][]bool, len(nodes))
	finished := make(chan int, len(nodes))
	var out atomic.Int32 // node batches not yet finished; the last releases ctx
	out.Store(int32(len(nodes)))
	for i, n := range nodes {
		calls[i] = make([]Call, len(batch))
		repeated[i] = make([]bool, len(batch))
		for j, c := range ext {
			calls[i][j] = Call{Script: c.script, Keys: c.keys, Args: c.args}
		}
		k.s.pending.add()
		go func() {
			defer k.s.pending.done()
			k.extendOn(ctx, n, calls[i], repeated[i])
			finished <- i
			if out.Add(-1) == 0 {
				bound.cancel()
			}
		}()
	}
	results := make([]extendResult, len(batch))
	for j, ls := range batch {
		results[j] = extendResult{lease: ls, start: start}
		r := &results[j].t
		r.replies, r.answered = make([]reply, len(nodes)), make([]bool, len(nodes))
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	// record adds node i's finished batch to the results.
	record := func(i int) {
		n := nodes[i]
		for j := range batch {
			c := calls[i][j]
			r := &results[j].t
			if c.Err != nil {
				err := c.Err
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					err = ErrNodeTimeout
				}
				r.add(i, reply{state: failed, err: &NodeError{Addr: n.Addr(), Err: err}})
				continue
			}
			r.add(i, ext[j].decode(n.Addr(), c.Reply, repeated[i][j]))
		}
	}
	pending, timedOut := len(nodes), false
	for pending > 0 && !timedOut && !extensionsDecided(results, k.s.quorum, pending) {
		select {
		case i := <-finished:
			pending--
			record(i)
		case <-deadline.C:
			timedOut = true // the node timeout passed: the nodes still out failed
		}
	}
	end := time.Now()
	if pending > 0 && !timedOut {
		// Decided: the nodes still out get a little longer, as long again
		// as the round took (see round.settle), so that on healthy nodes
		// every extension is counted; a hung node is not waited for.
		grace := time.NewTimer(min(max(end.Sub(start), time.Millisecond), time.Until(start.Add(timeout))))
		for waiting := true; waiting && pending > 0; {
			select {
			case i := <-finished:
				pending--
				record(i)
			case <-grace.C:
				waiting = false
			}
		}
		grace.Stop()
	}
	for j := range results {
		results[j].end = end
		r := &results[j].t
		for i, n := range nodes {
			if !r.answered[i] && timedOut {
				r.add(i, reply{state: failed, err: &NodeError{Addr: n.Addr(), Err: ErrNodeTimeout}})
			} else if !r.answered[i] {
				r.add(i, reply{state: failed}) // decided without it: it has said nothing yet
			}
		}
	}
	return results
}

// extendOn sends calls to node n in one batch, then again the calls whose
// connection broke (see nodeSet.eval), noting in repeated which were.
func (k *keeper) extendOn(ctx context.Context, n Node, calls []Call, repeated []bool) {
	evalBatch(ctx, n, calls)
	for range maxRepeats {
		var again []int
		for j, c := range calls {
			if c.Err != nil && brokenConn(c.Err) && ctx.Err() == nil {
				again = append(again, j)
			}
		}
		if len(again) == 0 {
			return
		}
		retry := make([]Call, len(again))
		for x, j := range again {
			retry[x] = Call{Script: calls[j].Script, Keys: calls[j].Keys, Args: calls[j].Args}
		}
		evalBatch(ctx, n, retry)
		for x, j := range again {
			calls[j], repeated[j] = retry[x], true
		}
	}
}

// extensionsDecided reports whether every extension of results is decided
// with pending node batches still out: confirmed by quorum nodes, or unable
// to be.
func extensionsDecided(results []extendResult, quorum, pending int) bool {
	for j := range results {
		t := &results[j].t
		if t.yes < quorum && t.yes+pending >= quorum {
			return false
		}
	}
	return true
}

// apply records the outcome of an extension round.
func (k *keeper) apply(rs []extendResult) {
	var after []func()
	k.mu.Lock()
	k.batches--
	for _, r := range rs {
		ls := r.lease
		ls.inFlight = false
		ls.mu.Lock()
		if ls.ended {
			ls.mu.Unlock()
			continue
		}
		verdict, until := k.s.judgeExtension(&r.t, ls.pol, r.start, r.end, ls.until)
		switch verdict {
		case extensionConfirmed:
			ls.until = until
			ls.count++
			ls.retrying = false
			ls.next = r.start.Add(ls.pol.every)
			if ls.pol.capped(ls.start, ls.next, ls.count) {
				ls.extend = false
			}
			ls.mu.Unlock()
			after = append(after, func() {
				ls.pol.observe(nil, ls.t.name, Event{Kind: Extended, Nodes: r.t.yes, Took: r.end.Sub(r.start), Until: until, KeepAlive: true}, &r.t, k.s.nodes)
			})
		case extensionNotOurs, extensionTooLate:
			ls.mu.Unlock()
			err := ls.lossError(r.t.errs)
			after = append(after, func() {
				ls.end(err)
				ls.pol.observe(nil, ls.t.name, Event{Kind: Lost, Nodes: r.t.yes, Took: r.end.Sub(r.start), Err: err, KeepAlive: true}, &r.t, k.s.nodes)
			})
			continue
		default:
			// Not confirmed: try again soon, while the validity lasts. A
			// retry waits its time: it does not join a round early.
			ls.next = r.end.Add(max(ls.pol.every/8, time.Millisecond))
			ls.retrying = true
			until := ls.until
			ls.mu.Unlock()
			errs := r.t.errs
			after = append(after, func() {
				ls.pol.observe(nil, ls.t.name, Event{Kind: ExtendFailed, Nodes: r.t.yes, Took: r.end.Sub(r.start), Until: until, Err: errors.Join(errs...), KeepAlive: true}, &r.t, k.s.nodes)
			})
		}
		k.schedule(ls)
	}
	k.mu.Unlock()
	for _, fn := range after {
		fn()
	}
}

// extension is what an extension round means for a holding.
type extension int

const (
	extensionUnconfirmed extension = iota // too few answered: the holding stands until its validity ends
	extensionConfirmed                    // a quorum confirmed within the validity
	extensionNotOurs                      // so many answered "not ours" that no quorum holds it
	extensionTooLate                      // the validity ended before a quorum confirmed
)

// judgeExtension reads an extension round begun at start and decided at
// end, for a holding valid until until (zero when the caller holds none),
// and returns the verdict and, when confirmed, the new end of validity.
// The keeper and Mutex.Extend share it.
func (s *nodeSet) judgeExtension(t *tally, p *policy, start, end, until time.Time) (extension, time.Time) {
	validity := p.validity(start, end)
	switch {
	case !until.IsZero() && !end.Before(until):
		return extensionTooLate, time.Time{}
	case t.yes >= s.quorum && validity > 0:
		return extensionConfirmed, start.Add(validity)
	case t.no > len(s.nodes)-s.quorum:
		return extensionNotOurs, time.Time{}
	}
	return extensionUnconfirmed, time.Time{}
}

// leaseHeap orders leases by their next event.
type leaseHeap []*lease

func (h leaseHeap) Len() int           { return len(h) }
func (h leaseHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h leaseHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *leaseHeap) Push(x any) {
	ls := x.(*lease)
	ls.index = len(*h)
	*h = append(*h, ls)
}
func (h *leaseHeap) Pop() any {
	old := *h
	ls := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	ls.index = -1
	return ls
}

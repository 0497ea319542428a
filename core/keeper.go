package core

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"
)

// lease is one holding of a lock by a Mutex: from the acquisition that
// took it to Unlock or loss. Its fields are guarded by the keeper's mutex.
type lease struct {
	m      *Mutex
	prefix string
	start  time.Time // when the lease was acquired, for the hold cap
	until  time.Time // end of validity
	extend bool      // keep it alive; false: only watch for the end of validity
	next   time.Time // next extension round
	count  int       // extensions confirmed

	at       time.Time // position in the keeper's heap
	index    int       // in the heap; -1 when not in it
	inFlight bool      // an extension round is running
	ended    bool
	done     chan struct{} // closed when the lease ends
	err      error         // why it ended
	onEnd    []func(error)
}

// lossAt is when the lease must be declared lost unless extended: a guard
// of one node timeout before the validity ends, so that the holder hears of
// the loss while the lock is still its own.
func (l *lease) lossAt() time.Time { return l.until.Add(-l.m.opts.timeout()) }

// keeper keeps the leases of one Locker alive: one goroutine for all of
// them, running while there is a lease to watch, and extension rounds that
// send the due leases to each node in one pipelined batch.
type keeper struct {
	l       *Locker
	mu      sync.Mutex
	heap    leaseHeap
	running bool
	batches int // extension rounds in flight
	wake    chan struct{}
	results chan []extendResult
}

type extendResult struct {
	lease *lease
	ok    int     // nodes that confirmed
	no    int     // nodes that answered: not ours
	story []error // node errors
	start time.Time
	end   time.Time
}

func newKeeper(l *Locker) *keeper {
	return &keeper{l: l, wake: make(chan struct{}, 1), results: make(chan []extendResult)}
}

// add starts watching ls.
func (k *keeper) add(ls *lease) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ls.index = -1
	k.schedule(ls)
	if !k.running {
		k.running = true
		go k.loop()
	} else {
		k.poke()
	}
}

// update records a new validity for ls after a refresh or a manual Extend.
// It reports false when ls has already ended.
func (k *keeper) update(ls *lease, until time.Time, now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if ls.ended {
		return false
	}
	ls.until = until
	ls.next = now.Add(ls.m.opts.extendEvery())
	if !ls.inFlight {
		k.schedule(ls)
		k.poke()
	}
	return true
}

// end stops watching ls and closes its done channel with err.
func (k *keeper) end(ls *lease, err error) {
	k.mu.Lock()
	fns := k.endLocked(ls, err)
	k.mu.Unlock()
	for _, fn := range fns {
		fn(err)
	}
}

func (k *keeper) endLocked(ls *lease, err error) []func(error) {
	if ls.ended {
		return nil
	}
	ls.ended, ls.err = true, err
	if ls.index >= 0 {
		heap.Remove(&k.heap, ls.index)
	}
	close(ls.done)
	k.poke()
	return ls.onEnd
}

// schedule puts ls in the heap at its next event: an extension, or the
// moment it must be declared lost.
func (k *keeper) schedule(ls *lease) {
	at := ls.lossAt()
	if ls.extend && !ls.inFlight && ls.next.Before(at) {
		at = ls.next
	}
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
		var due []*lease
		var lost []*lease
		k.mu.Lock()
		if len(k.heap) == 0 && k.batches == 0 {
			k.running = false
			k.mu.Unlock()
			return
		}
		// Leases due within a quarter period join this round, so that
		// locks taken at different moments share their round trips.
		horizon := now.Add(k.l.opts.extendEvery() / 4)
		var later []*lease
		for len(k.heap) > 0 && !k.heap[0].at.After(horizon) {
			ls := heap.Pop(&k.heap).(*lease)
			switch {
			case !now.Before(ls.lossAt()):
				lost = append(lost, ls)
			case ls.inFlight || !ls.extend:
				later = append(later, ls) // only its loss time is due soon
			default:
				ls.inFlight = true
				due = append(due, ls)
				later = append(later, ls) // now at its loss time, in case the round does not come back
			}
		}
		for _, ls := range later {
			k.schedule(ls)
		}
		if len(due) > 0 {
			k.batches++
		}
		wait := time.Hour
		if len(k.heap) > 0 {
			wait = time.Until(k.heap[0].at)
		}
		k.mu.Unlock()

		for _, ls := range lost {
			err := ls.m.lossError(ls, nil)
			k.end(ls, err)
			ls.m.emit(Event{Kind: Lost, Err: err})
		}
		if len(due) > 0 {
			go k.extendRound(due)
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

// extendRound sends the extend script for every lease in batch to every
// node, one pipelined batch per node, all nodes in parallel.
func (k *keeper) extendRound(batch []*lease) {
	nodes := k.l.nodes
	timeout := batch[0].m.opts.timeout()
	for _, ls := range batch[1:] {
		timeout = min(timeout, ls.m.opts.timeout())
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	calls := make([][]Call, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		calls[i] = make([]Call, len(batch))
		for j, ls := range batch {
			calls[i][j] = Call{Script: extendScript, Keys: ls.m.keys[:1], Args: []string{ls.prefix, ls.m.ttlms}}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			evalBatch(ctx, n, calls[i])
		}()
	}
	wg.Wait()
	end := time.Now()
	results := make([]extendResult, len(batch))
	for j, ls := range batch {
		r := extendResult{lease: ls, start: start, end: end}
		for i, n := range nodes {
			c := calls[i][j]
			switch {
			case c.Err != nil:
				err := c.Err
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					err = ErrNodeTimeout
				}
				r.story = append(r.story, &NodeError{Addr: n.Addr(), Err: err})
			case c.Reply == int64(1):
				r.ok++
			case c.Reply == int64(0):
				r.no++
				r.story = append(r.story, &NodeError{Addr: n.Addr(), Err: ErrNotHeld})
			default:
				r.story = append(r.story, &NodeError{Addr: n.Addr(), Err: errUnexpected(c.Reply, extendScript)})
			}
		}
		results[j] = r
	}
	k.results <- results
}

// apply records the outcome of an extension round.
func (k *keeper) apply(rs []extendResult) {
	var ended []func()
	k.mu.Lock()
	k.batches--
	for _, r := range rs {
		ls := r.lease
		ls.inFlight = false
		if ls.ended {
			continue
		}
		m, q, n := ls.m, k.l.quorum, len(k.l.nodes)
		validity := m.opts.ttl - r.end.Sub(r.start) - m.opts.drift()
		switch {
		case r.ok >= q && validity > 0 && r.end.Before(ls.until):
			ls.until = r.start.Add(validity)
			ls.count++
			ls.next = r.start.Add(m.opts.extendEvery())
			if m.capped(ls) {
				ls.extend = false
			}
			m.setUntil(ls, ls.until)
			ended = append(ended, func() { m.emit(Event{Kind: Extended, Nodes: r.ok, Took: r.end.Sub(r.start), Until: ls.until}) })
		case r.no > n-q:
			err := m.lossError(ls, r.story)
			fns := k.endLocked(ls, err)
			ended = append(ended, func() {
				for _, fn := range fns {
					fn(err)
				}
				m.emit(Event{Kind: Lost, Nodes: r.ok, Took: r.end.Sub(r.start), Err: err})
			})
			continue
		default:
			// Transient: try again soon, while the validity lasts.
			ls.next = r.end.Add(max(m.opts.extendEvery()/8, time.Millisecond))
			story := r.story
			ended = append(ended, func() {
				m.emit(Event{Kind: ExtendFailed, Nodes: r.ok, Took: r.end.Sub(r.start), Until: ls.until, Err: errors.Join(story...)})
			})
		}
		k.schedule(ls)
	}
	k.mu.Unlock()
	for _, fn := range ended {
		fn()
	}
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

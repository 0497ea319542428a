package core

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// This file holds the wait queues: the Locks of one process that wait on
// one lock, woken one at a time by the release notifications that the
// listeners (listener.go) hear, and handed the lock by a holder of the same
// Locker. A queue goes away with its last waiter.

// queueSet is the process's wait queues, by lock.
type queueSet struct {
	mu     sync.Mutex
	byKey  map[queueKey]*queue
	active atomic.Int32 // len(byKey), for the paths that look without locking
}

var queues = queueSet{byKey: map[queueKey]*queue{}}

// queue hands the release notifications of one lock to the Locks of the
// process that wait on it, one at a time and first come first served: a
// release wakes the first waiter alone, which tries while the others keep
// waiting, instead of every waiter racing for the lock at once. A release
// that comes while the woken waiter is still trying is kept, and wakes the
// then first waiter as soon as that try is over. Its fields are guarded by
// mu.
type queue struct {
	key       queueKey
	mu        sync.Mutex
	waiters   []*waiter
	awake     *waiter // woken, and not yet done with its try
	pending   bool    // a release came while awake was trying
	handOvers int     // hand-overs since the last release (see maxHandOvers)
}

// channel is the release channel of the queue's lock.
func (q *queue) channel() string { return q.key.ch }

// waiter is one waiting Lock: what a hand-over needs to know of it, and
// how to reach it.
type waiter struct {
	q         *queue
	wake      chan struct{}
	handed    chan *lease // the outcome of a hand-over: the new holding, nil when it failed
	nodes     *nodeSet    // its Locker's: only a holder of the same Locker hands it the lock
	t         *target
	pol       *policy
	prefix    string // its owner prefix
	listeners []*listener

	// Guarded by q.mu.
	parked  bool // between rounds of its own: it can be handed the lock
	claimed bool // a holder is handing it the lock
}

// maxHandOvers bounds how many times in a row the holders of one process
// hand a lock to the next waiter of that process (see Mutex.Unlock): then
// one release lets waiters of other processes have their chance.
const maxHandOvers = 8

// wait puts a Lock of owner prefix on the Locker of ns, waiting for lock t
// under policy p, at the end of the lock's queue, and has the Locker's
// Subscriber nodes listen for releases. It reports whether a subscription
// was already up: if not, the queue is woken when one comes up, as
// releases may have gone unheard until then. It returns nil when no node
// can notify: the Lock then polls.
func (qs *queueSet) wait(ns *nodeSet, t *target, p *policy, prefix string) (*waiter, bool) {
	var subs []Node
	for _, n := range ns.nodes {
		if _, ok := n.(Subscriber); ok {
			subs = append(subs, n)
		}
	}
	if len(subs) == 0 {
		return nil, false
	}
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.byKey[t.waits]
	if q == nil {
		q = &queue{key: t.waits}
		qs.byKey[t.waits] = q
		qs.active.Add(1)
	}
	w := &waiter{q: q, wake: make(chan struct{}, 1), handed: make(chan *lease, 1), nodes: ns, t: t, pol: p, prefix: prefix, parked: true}
	q.mu.Lock()
	q.waiters = append(q.waiters, w)
	q.mu.Unlock()
	live := false
	for _, n := range subs {
		li, up := listeners.join(n, q)
		w.listeners = append(w.listeners, li)
		live = live || up
	}
	return w, live
}

// find returns the queue of key, nil when no Lock of the process waits on
// that lock; without a lock when none waits at all.
func (qs *queueSet) find(key queueKey) *queue {
	if qs.active.Load() == 0 {
		return nil
	}
	qs.mu.Lock()
	defer qs.mu.Unlock()
	return qs.byKey[key]
}

// behind reports whether Locks of this process already wait on lock t,
// and a subscription that would wake them works: a new Lock then joins
// the end of the queue instead of trying first.
func (qs *queueSet) behind(t *target) bool {
	q := qs.find(t.waits)
	if q == nil {
		return false
	}
	q.mu.Lock()
	var first []*listener
	if len(q.waiters) > 0 {
		first = q.waiters[0].listeners
	}
	q.mu.Unlock()
	return listeners.anyLive(first)
}

// busy marks w as making a round of its own, which no hand-over can
// overlap. If a hand-over to w had begun, it waits for its outcome (within
// a node timeout) and returns the holding w was handed, or nil.
func (w *waiter) busy() *lease {
	q := w.q
	q.mu.Lock()
	claimed := w.claimed
	w.parked, w.claimed = false, false
	q.mu.Unlock()
	if !claimed {
		return nil
	}
	return w.outcome(<-w.handed)
}

// outcome takes the outcome of a hand-over to w.
func (w *waiter) outcome(ls *lease) *lease {
	if ls != nil {
		w.tried(true)
	}
	return ls
}

// tried tells the queue that w made a round, and whether it acquired the
// lock; until its next round w can be handed the lock. If w was the woken
// waiter and failed, and a release came while it tried, the first waiter is
// woken again: w's round may have reached the gate node before the release
// did. If it acquired, releases seen meanwhile were the ones it has just
// profited from.
func (w *waiter) tried(acquired bool) {
	q := w.q
	q.mu.Lock()
	defer q.mu.Unlock()
	w.parked = !acquired
	if q.awake == w {
		q.awake = nil
		if q.pending && !acquired {
			q.wakeFirst()
		}
		q.pending = false
	}
}

// done takes w out of its queue and stops listening for it. A wake that w
// got and did not use goes to the next waiter. A hand-over to w that had
// begun is waited for: done returns the holding it gave, which the Lock,
// returning without it, must release.
func (w *waiter) done() *lease {
	q, qs := w.q, &queues
	qs.mu.Lock()
	q.mu.Lock()
	if i := slices.Index(q.waiters, w); i >= 0 {
		q.waiters = slices.Delete(q.waiters, i, i+1)
	}
	claimed := w.claimed
	w.parked, w.claimed = false, false
	if q.awake == w {
		q.awake, q.pending = nil, false
		q.wakeFirst()
	}
	if len(q.waiters) == 0 && qs.byKey[q.key] == q {
		delete(qs.byKey, q.key)
		qs.active.Add(-1)
	}
	q.mu.Unlock()
	qs.mu.Unlock()
	for _, li := range w.listeners {
		listeners.leave(li, q)
	}
	if claimed {
		return <-w.handed
	}
	return nil
}

// sleep waits for the timer, ctx, a release or a hand-over, and returns
// the holding handed over, if any. A nil waiter waits for the timer or ctx.
func (w *waiter) sleep(ctx context.Context, timer <-chan time.Time) *lease {
	var handed <-chan *lease
	var wake <-chan struct{}
	if w != nil {
		handed, wake = w.handed, w.wake
	}
	select {
	case <-ctx.Done():
	case <-timer:
	case <-wake:
	case ls := <-handed:
		w.q.mu.Lock()
		w.claimed = false
		w.q.mu.Unlock()
		return w.outcome(ls)
	}
	return nil
}

// claim returns the first waiter of lock t in this process when a holder
// for prefix, on the Locker of ns, can hand it the lock: it waits in Lock
// on the same Locker, between rounds of its own, for another owner,
// without fencing, and the lock has not been handed over maxHandOvers
// times in a row. The waiter then waits for the outcome on its handed
// channel.
func (qs *queueSet) claim(ns *nodeSet, t *target, prefix string) *waiter {
	q := qs.find(t.waits)
	if q == nil {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiters) == 0 {
		return nil
	}
	w := q.waiters[0]
	if !w.parked || w.claimed || w.nodes != ns || w.prefix == prefix || w.pol.fencing {
		return nil
	}
	if q.handOvers >= maxHandOvers {
		q.handOvers = 0 // this time, release
		return nil
	}
	q.handOvers++
	w.claimed = true
	return w
}

// notify handles a release of the queue's lock.
func (q *queue) notify() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.awake != nil {
		q.pending = true
		return
	}
	q.wakeFirst()
}

// wakeFirst wakes the first waiter. Callers hold q.mu.
func (q *queue) wakeFirst() {
	if len(q.waiters) == 0 {
		return
	}
	w := q.waiters[0]
	q.awake = w
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

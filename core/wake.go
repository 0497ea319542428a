package core

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Subscriber is an optional interface of a Node: receiving the release
// notifications that core's release script publishes, so that a waiting
// Mutex.Lock wakes as soon as the lock is released instead of sleeping out
// its retry delay. Without it, or while a subscription is broken, Lock
// polls with the delays of its retry policy.
//
// Listen subscribes to the channels matching pattern (PSUBSCRIBE), calls
// ready once the server has confirmed the subscription, and then deliver
// with the channel of each message, from one goroutine, until ctx ends
// (Listen then returns nil) or the subscription breaks (it returns the
// error; core listens again after a pause). Listen must use a connection of
// its own, not one of a pool shared with Eval.
//
// Core keeps at most one Listen running per Node in a process, and only
// while some Lock is waiting on that Node.
type Subscriber interface {
	Listen(ctx context.Context, pattern string, ready func(), deliver func(channel string)) error
}

// Channel returns the pub/sub channel on which the release of the lock
// called name is announced.
func Channel(name string) string { return Key(name) + ":released" }

// releasePattern matches the release channel of every lock.
const releasePattern = "redlock:*:released"

// wakeIdle is how long a subscription outlives its last waiter, so that a
// lock contended again soon finds it still open.
var wakeIdle = 2 * time.Second

// listeners holds one listener per Subscriber node in the process.
var listeners sync.Map // Node → *listener

// queues holds the queue of every lock that Locks of the process wait on,
// by deployment and release channel.
var (
	queuesMu sync.Mutex
	queues   = map[queueKey]*queue{}
)

type queueKey struct{ deployment, ch string }

// queue hands the release notifications of one lock to the Locks of the
// process that wait on it, one at a time and first come first served: a
// release wakes the first waiter alone, which tries while the others keep
// waiting, instead of every waiter racing for the lock at once. A release
// that comes while the woken waiter is still trying is kept, and wakes the
// then first waiter as soon as that try is over.
type queue struct {
	key       queueKey
	mu        sync.Mutex
	waiters   []*waiter
	awake     *waiter // woken, and not yet done with its try
	pending   bool    // a release came while awake was trying
	handOvers int     // hand-overs since the last release (see maxHandOvers)
}

// waiter is one waiting Lock.
type waiter struct {
	q         *queue
	wake      chan struct{}
	listeners []*listener
	m         *Mutex    // the waiting Mutex
	prefix    string    // its owner prefix
	handed    chan bool // the outcome of a hand-over: true when m now holds the lock

	// Guarded by q.mu.
	parked  bool // between rounds of its own: it can be handed the lock
	claimed bool // a holder is handing it the lock
}

// maxHandOvers bounds how many times in a row the holders of one process
// hand a lock to the next waiter of that process (see Mutex.Unlock): then
// one release lets waiters of other processes have their chance.
const maxHandOvers = 8

// queueCount is how many queues exist, so that Unlock looks for waiters
// only when some Lock of the process waits.
var queueCount atomic.Int32

// wait puts m, waiting in Lock for the lock of release channel ch with
// owner prefix, at the end of its queue, and has the Locker's Subscriber
// nodes listen for releases. It reports whether a subscription was already
// up: if not, the queue is woken when one comes up, as releases may have
// gone unheard until then. It returns nil when no node can notify: the
// Lock then polls.
func (l *Locker) wait(ch string, m *Mutex, prefix string) (*waiter, bool) {
	var ls []*listener
	for _, n := range l.nodes {
		if s, ok := n.(Subscriber); ok {
			v, _ := listeners.LoadOrStore(n, &listener{sub: s, queues: map[string]map[*queue]int{}})
			ls = append(ls, v.(*listener))
		}
	}
	if len(ls) == 0 {
		return nil, false
	}
	key := queueKey{l.deployment, ch}
	queuesMu.Lock()
	q := queues[key]
	if q == nil {
		q = &queue{key: key}
		queues[key] = q
		queueCount.Add(1)
	}
	w := &waiter{q: q, wake: make(chan struct{}, 1), listeners: ls, m: m, prefix: prefix, handed: make(chan bool, 1), parked: true}
	q.mu.Lock()
	q.waiters = append(q.waiters, w)
	q.mu.Unlock()
	queuesMu.Unlock()
	live := false
	for _, li := range ls {
		live = li.add(q) || live
	}
	return w, live
}

// behind reports whether Locks of this process already wait on the lock
// of ch, and a subscription that would wake them works: a new Lock then
// joins the end of the queue instead of trying first.
func (l *Locker) behind(ch string) bool {
	if queueCount.Load() == 0 {
		return false
	}
	queuesMu.Lock()
	q := queues[queueKey{l.deployment, ch}]
	queuesMu.Unlock()
	if q == nil {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiters) == 0 {
		return false
	}
	for _, li := range q.waiters[0].listeners {
		li.mu.Lock()
		live := li.live
		li.mu.Unlock()
		if live {
			return true
		}
	}
	return false
}

// busy marks w as making a round of its own, which no hand-over can
// overlap. If a hand-over to w had begun, it waits for its outcome (within
// a node timeout) and reports whether w now holds the lock.
func (w *waiter) busy() bool {
	q := w.q
	q.mu.Lock()
	claimed := w.claimed
	w.parked, w.claimed = false, false
	q.mu.Unlock()
	return claimed && w.outcome(<-w.handed)
}

// outcome takes the outcome of a hand-over to w.
func (w *waiter) outcome(handed bool) bool {
	if handed {
		w.tried(true)
	}
	return handed
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
// begun is waited for, and the lock released again: Lock is returning
// without it.
func (w *waiter) done() {
	q := w.q
	queuesMu.Lock()
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
	if len(q.waiters) == 0 && queues[q.key] == q {
		delete(queues, q.key)
		queueCount.Add(-1)
	}
	q.mu.Unlock()
	queuesMu.Unlock()
	for _, li := range w.listeners {
		li.remove(q)
	}
	if claimed && <-w.handed {
		_ = w.m.Unlock(context.Background())
	}
}

// sleep waits for the timer, ctx, a release or a hand-over, and reports
// whether the lock was handed over. A nil waiter waits for the timer or ctx.
func (w *waiter) sleep(ctx context.Context, timer <-chan time.Time) bool {
	var handed <-chan bool
	var wake <-chan struct{}
	if w != nil {
		handed, wake = w.handed, w.wake
	}
	select {
	case <-ctx.Done():
	case <-timer:
	case <-wake:
	case ok := <-handed:
		w.q.mu.Lock()
		w.claimed = false
		w.q.mu.Unlock()
		return w.outcome(ok)
	}
	return false
}

// claim returns the first waiter of m's lock in this process when m, which
// holds the lock for prefix, can hand it the lock: it waits in Lock on the
// same Locker, between rounds of its own, for another owner, neither uses fencing, and the lock has
// not been handed over maxHandOvers times in a row. The waiter then waits
// for the outcome on its handed channel.
func (l *Locker) claim(m *Mutex, prefix string) *waiter {
	if queueCount.Load() == 0 || m.opts.fencing {
		return nil
	}
	queuesMu.Lock()
	q := queues[queueKey{l.deployment, Channel(m.name)}]
	queuesMu.Unlock()
	if q == nil {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiters) == 0 {
		return nil
	}
	w := q.waiters[0]
	if !w.parked || w.claimed || w.m.locker != l || w.prefix == prefix || w.m.opts.fencing {
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

// listener shares one subscription of a node among every waiting Lock.
type listener struct {
	sub Subscriber

	mu      sync.Mutex
	queues  map[string]map[*queue]int // release channel → queues → their waiters here
	running bool
	live    bool // the server has confirmed the subscription
	stop    context.CancelFunc
	idle    *time.Timer
}

// add has li deliver the releases of q's lock to q, and reports whether
// li's subscription is up.
func (li *listener) add(q *queue) bool {
	li.mu.Lock()
	defer li.mu.Unlock()
	qs := li.queues[q.key.ch]
	if qs == nil {
		qs = map[*queue]int{}
		li.queues[q.key.ch] = qs
	}
	qs[q]++
	if li.idle != nil {
		li.idle.Stop()
		li.idle = nil
	}
	if !li.running {
		ctx, cancel := context.WithCancel(context.Background())
		li.running, li.stop = true, cancel
		go li.run(ctx)
	}
	return li.live
}

func (li *listener) remove(q *queue) {
	li.mu.Lock()
	defer li.mu.Unlock()
	qs := li.queues[q.key.ch]
	if qs[q]--; qs[q] <= 0 {
		delete(qs, q)
	}
	if len(qs) == 0 {
		delete(li.queues, q.key.ch)
	}
	if len(li.queues) == 0 && li.running && li.idle == nil {
		stop := li.stop
		li.idle = time.AfterFunc(wakeIdle, func() {
			li.mu.Lock()
			defer li.mu.Unlock()
			if len(li.queues) == 0 && li.running {
				stop()
				li.running, li.idle = false, nil
			}
		})
	}
}

// run keeps the subscription open until ctx ends, listening again after a
// pause when it breaks; waiters poll in the meantime.
func (li *listener) run(ctx context.Context) {
	for {
		_ = li.sub.Listen(ctx, releasePattern, func() { li.setLive(true) }, li.deliver)
		li.setLive(false)
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// setLive records whether the subscription is up. When it comes up, every
// queue it serves is woken: releases went unheard until then.
func (li *listener) setLive(live bool) {
	li.mu.Lock()
	li.live = live
	var qs []*queue
	if live {
		for _, byQueue := range li.queues {
			for q := range byQueue {
				qs = append(qs, q)
			}
		}
	}
	li.mu.Unlock()
	for _, q := range qs {
		q.notify()
	}
}

func (li *listener) deliver(ch string) {
	li.mu.Lock()
	var qs []*queue
	for q := range li.queues[ch] {
		qs = append(qs, q)
	}
	li.mu.Unlock()
	for _, q := range qs {
		q.notify()
	}
}

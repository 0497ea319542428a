package core

import (
	"context"
	"sync"
	"time"
)

// This file holds the listeners: one subscription per Subscriber node in
// the process, shared by every Lock that waits on a lock of that node, open
// only while some Lock waits (and wakeIdle after). A listener hands each
// release it hears to the waiters of that lock (queue.go).

// wakeable is what a listener delivers releases to: a lock's wait queue.
type wakeable interface {
	notify() // the lock was released, or releases may have gone unheard
	channel() string
}

// listenerSet is the process's listeners, by node. A listener goes away
// (its subscription, goroutine and connection with it) wakeIdle after its
// last waiter left, so that a service that makes and drops Lockers or
// nodes holds only what is waited on now.
type listenerSet struct {
	mu    sync.Mutex
	byKey map[Node]*listener
}

var listeners = listenerSet{byKey: map[Node]*listener{}}

// wakeIdle is how long a subscription outlives its last waiter, so that a
// lock contended again soon finds it still open.
var wakeIdle = 2 * time.Second

// listener shares one subscription of a node among every waiting Lock of
// the process. Its fields are guarded by the set's mutex.
type listener struct {
	node   Node
	waits  map[string]map[wakeable]int // release channel → queues → their waiters here
	live   bool                        // the server has confirmed the subscription
	stop   context.CancelFunc          // ends the subscription
	idle   *time.Timer                 // armed when the last queue left
	epoch  uint64                      // counts joins and idle timers: a timer fires only for its own epoch
	parent *listenerSet
}

// join has node's listener deliver the releases of q's lock to q, making
// the listener and starting its subscription if there is none. It reports
// whether the subscription is up.
func (ls *listenerSet) join(node Node, q wakeable) (*listener, bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	li := ls.byKey[node]
	if li == nil {
		ctx, cancel := context.WithCancel(context.Background())
		li = &listener{node: node, waits: map[string]map[wakeable]int{}, stop: cancel, parent: ls}
		ls.byKey[node] = li
		go li.run(ctx, node.(Subscriber))
	}
	li.epoch++ // an idle timer armed before this join does nothing
	if li.idle != nil {
		li.idle.Stop()
		li.idle = nil
	}
	qs := li.waits[q.channel()]
	if qs == nil {
		qs = map[wakeable]int{}
		li.waits[q.channel()] = qs
	}
	qs[q]++
	return li, li.live
}

// leave undoes one join of q. When li serves no queue any more, it stops
// after wakeIdle unless a join comes first.
func (ls *listenerSet) leave(li *listener, q wakeable) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	qs := li.waits[q.channel()]
	if qs[q]--; qs[q] <= 0 {
		delete(qs, q)
	}
	if len(qs) == 0 {
		delete(li.waits, q.channel())
	}
	if len(li.waits) > 0 || li.idle != nil {
		return
	}
	li.epoch++
	epoch := li.epoch
	li.idle = time.AfterFunc(wakeIdle, func() { ls.expire(li, epoch) })
}

// expire stops li and forgets it, if nothing joined it since the idle
// timer of epoch was armed.
func (ls *listenerSet) expire(li *listener, epoch uint64) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if li.epoch != epoch || len(li.waits) > 0 {
		return
	}
	li.stop()
	if ls.byKey[li.node] == li {
		delete(ls.byKey, li.node)
	}
}

// anyLive reports whether one of lis has its subscription up.
func (ls *listenerSet) anyLive(lis []*listener) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for _, li := range lis {
		if li.live {
			return true
		}
	}
	return false
}

// run keeps li's subscription open until ctx ends, listening again after a
// pause when it breaks; waiters poll in the meantime.
func (li *listener) run(ctx context.Context, sub Subscriber) {
	for {
		_ = sub.Listen(ctx, releasePattern, func() { li.setLive(true) }, li.deliver)
		li.setLive(false)
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// setLive records whether li's subscription is up. When it comes up, every
// queue it serves is woken: releases went unheard until then.
func (li *listener) setLive(live bool) {
	li.parent.mu.Lock()
	li.live = live
	var qs []wakeable
	if live {
		for _, byQueue := range li.waits {
			for q := range byQueue {
				qs = append(qs, q)
			}
		}
	}
	li.parent.mu.Unlock()
	for _, q := range qs {
		q.notify()
	}
}

// deliver hands a release announced on channel ch to the queues li serves.
func (li *listener) deliver(ch string) {
	li.parent.mu.Lock()
	var qs []wakeable
	for q := range li.waits[ch] {
		qs = append(qs, q)
	}
	li.parent.mu.Unlock()
	for _, q := range qs {
		q.notify()
	}
}

// releaseWatch hears the releases of some locks for one waiter that is
// not in a wait queue: a semaphore's Acquire (any of its slots) or an
// election's Observe. Every release, and every subscription that comes up,
// sends on wake without blocking.
type releaseWatch struct {
	wake  chan struct{}
	joins []watchJoin
}

type watchJoin struct {
	li *listener
	ch *watchedChannel
}

// watchedChannel is one release channel a releaseWatch hears.
type watchedChannel struct {
	ch   string
	wake chan struct{}
}

func (c *watchedChannel) notify() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *watchedChannel) channel() string { return c.ch }

// watch has the Subscriber nodes of ns listen for releases on channels.
// It reports whether a subscription was already up: if not, the watch is
// woken when one comes up. It returns nil when no node can notify.
func watch(ns *nodeSet, channels ...string) (*releaseWatch, bool) {
	var subs []Node
	for _, n := range ns.nodes {
		if _, ok := n.(Subscriber); ok {
			subs = append(subs, n)
		}
	}
	if len(subs) == 0 {
		return nil, false
	}
	w := &releaseWatch{wake: make(chan struct{}, 1)}
	live := false
	for _, ch := range channels {
		wc := &watchedChannel{ch: ch, wake: w.wake}
		for _, n := range subs {
			li, up := listeners.join(n, wc)
			w.joins = append(w.joins, watchJoin{li, wc})
			live = live || up
		}
	}
	return w, live
}

// woken returns the channel that a release or a subscription coming up
// sends on; nil, which never sends, for a nil watch.
func (w *releaseWatch) woken() <-chan struct{} {
	if w == nil {
		return nil
	}
	return w.wake
}

// stop ends the watch.
func (w *releaseWatch) stop() {
	if w == nil {
		return
	}
	for _, j := range w.joins {
		listeners.leave(j.li, j.ch)
	}
}

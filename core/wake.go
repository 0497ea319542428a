package core

import (
	"context"
	"sync"
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

// listener shares one subscription of a node among every waiting Lock.
type listener struct {
	sub Subscriber

	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{} // channel → wake channels
	running bool
	stop    context.CancelFunc
	idle    *time.Timer
}

// wait registers a wake channel for lock channel ch on every Subscriber
// node and returns it with a function that unregisters it. wake is nil when
// no node can notify.
func (l *Locker) wait(ch string) (wake chan struct{}, done func()) {
	var ls []*listener
	for _, n := range l.nodes {
		if s, ok := n.(Subscriber); ok {
			v, _ := listeners.LoadOrStore(n, &listener{sub: s, waiters: map[string]map[chan struct{}]struct{}{}})
			ls = append(ls, v.(*listener))
		}
	}
	if len(ls) == 0 {
		return nil, func() {}
	}
	wake = make(chan struct{}, 1)
	for _, li := range ls {
		li.add(ch, wake)
	}
	return wake, func() {
		for _, li := range ls {
			li.remove(ch, wake)
		}
	}
}

func (li *listener) add(ch string, wake chan struct{}) {
	li.mu.Lock()
	defer li.mu.Unlock()
	set := li.waiters[ch]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		li.waiters[ch] = set
	}
	set[wake] = struct{}{}
	if li.idle != nil {
		li.idle.Stop()
		li.idle = nil
	}
	if !li.running {
		ctx, cancel := context.WithCancel(context.Background())
		li.running, li.stop = true, cancel
		go li.run(ctx)
	}
}

func (li *listener) remove(ch string, wake chan struct{}) {
	li.mu.Lock()
	defer li.mu.Unlock()
	delete(li.waiters[ch], wake)
	if len(li.waiters[ch]) == 0 {
		delete(li.waiters, ch)
	}
	if len(li.waiters) == 0 && li.running && li.idle == nil {
		stop := li.stop
		li.idle = time.AfterFunc(wakeIdle, func() {
			li.mu.Lock()
			defer li.mu.Unlock()
			if len(li.waiters) == 0 && li.running {
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
		_ = li.sub.Listen(ctx, releasePattern, func() {}, li.deliver)
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (li *listener) deliver(ch string) {
	li.mu.Lock()
	defer li.mu.Unlock()
	for wake := range li.waiters[ch] {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

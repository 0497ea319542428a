package core

import (
	"sync/atomic"
	"time"
)

// The node calls of rounds run on workers: goroutines that live on between
// rounds, so that a round starts its calls without making a goroutine (and
// its closure) for each. A round hands each call to an idle worker, or
// starts one when none is idle; a worker idle for workerIdle ends. There
// are thus as many as the calls the process had in flight at once lately,
// and none after a quiet spell.

// nodeTask is one node call of a round.
type nodeTask struct {
	r              *round
	node           int
	gateLetThrough bool
}

var (
	tasks   = make(chan nodeTask)
	workers atomic.Int64 // running
)

// workerIdle is how long a worker waits for a call before it ends: a
// process that has stopped locking has none left a second later.
const workerIdle = time.Second

// start runs t on a worker.
func (t nodeTask) start() {
	select {
	case tasks <- t:
	default:
		workers.Add(1)
		go work(t)
	}
}

// work runs t, then the calls handed to it, until it has been idle for
// workerIdle. It holds no round while it waits.
func work(t nodeTask) {
	defer workers.Add(-1)
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		t.r.call(t.node, t.gateLetThrough)
		t = nodeTask{}
		// An expiry left unread (under the timers of Go before 1.23) only
		// ends this worker early.
		idle.Reset(workerIdle)
		select {
		case t = <-tasks:
		case <-idle.C:
			return
		}
	}
}

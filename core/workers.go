package core

import "time"

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

var tasks = make(chan nodeTask)

// workerIdle is how long a worker waits for a call before it ends.
const workerIdle = 10 * time.Second

// start runs t on a worker.
func (t nodeTask) start() {
	select {
	case tasks <- t:
	default:
		go work(t)
	}
}

// work runs t, then the calls handed to it, until it has been idle for
// workerIdle.
func work(t nodeTask) {
	t.r.call(t.node, t.gateLetThrough)
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		select {
		case t = <-tasks:
			t.r.call(t.node, t.gateLetThrough)
			idle.Reset(workerIdle)
		case <-idle.C:
			return
		}
	}
}

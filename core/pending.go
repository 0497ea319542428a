package core

import (
	"context"
	"sync"
	"sync/atomic"
)

// pending counts a Locker's node calls that may outlive the operation that
// made them: the rest of a round after it decided, the cleanup of a failed
// round, the release of an acquire that landed after Unlock.
type pending struct {
	n    atomic.Int64
	mu   sync.Mutex
	idle chan struct{} // made by Wait while n > 0, closed when n comes back to 0
}

func (p *pending) add() { p.n.Add(1) }

func (p *pending) done() {
	if p.n.Add(-1) == 0 {
		p.mu.Lock()
		if p.idle != nil && p.n.Load() == 0 {
			close(p.idle)
			p.idle = nil
		}
		p.mu.Unlock()
	}
}

// Wait blocks until every node call of the Locker's Mutexes that was still
// running in the background has finished, or until ctx ends (it then
// returns ctx.Err()).
//
// Rounds return as soon as their outcome is decided, and finish the rest
// in the background: a node that answers after a failed round is released
// again, an acquire still in flight at Unlock is released when it lands,
// and Unlock returns once a quorum has released, with the other releases
// on their way. Each of those calls is bounded by the node timeout. A
// program that closes its Redis clients or exits right after Unlock can cut
// them off and leave a key on a minority of nodes until its TTL; call Wait
// first.
func (l *Locker) Wait(ctx context.Context) error {
	p := &l.pending
	p.mu.Lock()
	if p.n.Load() == 0 {
		p.mu.Unlock()
		return nil
	}
	if p.idle == nil {
		p.idle = make(chan struct{})
	}
	idle := p.idle
	p.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

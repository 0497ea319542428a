package core

import (
	"sync/atomic"
	"time"
)

// target is one lock of a Locker: its name and keys, and what its rounds
// have learned about contention for it.
type target struct {
	name    string
	lockKey []string // Key(name)
	keys    []string // Key(name), FenceKey(name)
	quorum  int
	gate    int      // the node that gated rounds ask first
	waits   queueKey // its wait queue in the process

	contended  atomic.Int64 // when a round last met another owner, in Unix ns
	fullRound  atomic.Int64 // when the last full round under contention began, in Unix ns
	gateFailed atomic.Int64 // when the gate last failed to answer, in Unix ns
}

// queueKey names the wait queue of one lock in the process: Lockers over
// the same servers share it.
type queueKey struct{ deployment, ch string }

func newTarget(name string, quorum, gate int, deployment string) *target {
	key := Key(name)
	return &target{
		name: name, lockKey: []string{key}, keys: []string{key, FenceKey(name)}, quorum: quorum,
		gate: gate, waits: queueKey{deployment, Channel(name)},
	}
}

// gated reports whether the lock's next round, under policy p, goes
// through the gate node: for a TTL after a round met another owner, except
// for one full parallel round per p.fullEvery, so that a stale write left
// on the gate (by a client cut off before it released there; it lives one
// TTL at most) holds the lock from contenders for fullEvery at most, not
// for its whole TTL. A gate that failed to answer is skipped for a TTL.
func (t *target) gated(p *policy, nodes int) bool {
	if nodes == 1 {
		return false
	}
	now := time.Now().UnixNano()
	ttl := int64(p.ttl)
	if now-t.contended.Load() >= ttl || now-t.gateFailed.Load() < ttl {
		t.fullRound.Store(now) // an ungated round is a full round
		return false
	}
	last := t.fullRound.Load()
	if now-last < int64(p.fullEvery) || !t.fullRound.CompareAndSwap(last, now) {
		return true
	}
	return false
}

package core

import (
	"sync"
	"sync/atomic"
	"time"
)

// target is one lock of a Locker: its name and keys, and what its rounds
// have learned about contention for it. A Mutex's lock has the keys of
// its name (Key, FenceKey, Channel); a semaphore's slot and an election
// have keys of their own (see SlotKey, ElectionKey), which no Mutex's
// keys can equal.
type target struct {
	name    string   // the lock's name, as errors and events give it
	id      any      // its entry in the Locker's targets: the name for a Mutex's lock, a keyID otherwise
	lockKey []string // the lock key: Key(name) for a Mutex's lock
	keys    []string // the lock key and its fencing counter (the lock key + ":fence")
	quorum  int
	gate    int      // the node that gated rounds ask first
	waits   queueKey // its wait queue in the process

	contended  atomic.Int64 // when a round last met another owner, in Unix ns
	fullRound  atomic.Int64 // when the last full round under contention began, in Unix ns
	gateFailed atomic.Int64 // when the gate last failed to answer, in Unix ns
	used       atomic.Int64 // when a Mutex was last made for it or made a round, in Unix ns (to the second)

	prefix atomic.Pointer[cachedPrefix] // the last owner ID and metadata seen, and their prefix

	// The holding of the lock by a Mutex of the Locker, until it ends: a
	// TryLock of another owner fails at once while it is valid (see
	// Mutex.TryLock).
	holder atomic.Pointer[lease]
	// The holding that an Unlock of a Mutex of the Locker is releasing,
	// until its round is done (see lease.release).
	releasing atomic.Pointer[lease]
	// The TryLock round in flight from a Mutex of the Locker, if any.
	trying atomic.Pointer[tryRound]
	// The rounds of the lock's acquisitions and releases by the Locker
	// whose calls have not all landed: an acquire still in flight after
	// its Unlock, released once it lands, or a release still on its way
	// after Unlock returned. Each may hold a key of a holding that has
	// ended for a moment (see Mutex.TryLock).
	background pending
}

type cachedPrefix struct{ id, meta, prefix string }

// prefixOf returns the prefix of the values that owner id stores with
// metadata meta (see ownerPrefix).
func (t *target) prefixOf(id, meta string) (*cachedPrefix, error) {
	if p := t.prefix.Load(); p != nil && p.id == id && p.meta == meta {
		return p, nil
	}
	prefix, err := ownerPrefix(id, meta)
	if err != nil {
		return nil, err
	}
	p := &cachedPrefix{id, meta, prefix}
	t.prefix.Store(p)
	return p, nil
}

// touch notes that the lock is in use at now (Unix ns), at most once a
// second, so that Mutexes of a busy name do not all write one word.
func (t *target) touch(now int64) {
	if now-t.used.Load() >= int64(time.Second) {
		t.used.Store(now)
	}
}

// targets is the locks of a Locker by name. What rounds learn about a lock
// (contention, the gate, a gate that failed, the owner prefix) lives in its
// target, so that a Mutex made per acquisition is gated at once when its
// name is contended. It is bounded: once it has grown past its limit, names
// that no Mutex used for forgetAfter are dropped. A Mutex that still has a
// dropped target keeps using it; a new one gets a fresh target, which has
// only lost what it learned about contention: that is advice for rounds,
// never what their safety rests on.
type targets struct {
	byName   sync.Map     // name → *target
	n        atomic.Int64 // entries in byName
	limit    atomic.Int64 // n at which add sweeps
	sweeping atomic.Bool
}

// minTargets is the least limit of targets.
const minTargets = 1024

// forgetAfter is how long an unused target is kept once targets is past its
// limit.
var forgetAfter = time.Minute

// find returns the target of the Mutex lock called name, nil when there
// is none.
func (ts *targets) find(name string, now int64) *target { return ts.load(name, now) }

// keyID is the entry in targets of a lock that is not a Mutex's: its
// lock key, of a type of its own so that it never equals a Mutex's name.
type keyID string

// findKey returns the target whose lock key is key, among those that are
// not a Mutex's, nil when there is none.
func (ts *targets) findKey(key string, now int64) *target { return ts.load(keyID(key), now) }

func (ts *targets) load(id any, now int64) *target {
	v, ok := ts.byName.Load(id)
	if !ok {
		return nil
	}
	t := v.(*target)
	t.touch(now)
	return t
}

// add stores t unless a target of its name was stored meanwhile, and
// returns the one stored.
func (ts *targets) add(t *target, now int64) *target {
	t.used.Store(now)
	if v, loaded := ts.byName.LoadOrStore(t.id, t); loaded {
		return v.(*target)
	}
	if ts.n.Add(1) >= max(ts.limit.Load(), minTargets) && ts.sweeping.CompareAndSwap(false, true) {
		ts.sweep(now)
		ts.sweeping.Store(false)
	}
	return t
}

// sweep drops the targets unused for forgetAfter, and sets the next limit
// to twice what is left, so that sweeps cost O(1) per add.
func (ts *targets) sweep(now int64) {
	ts.byName.Range(func(k, v any) bool {
		if now-v.(*target).used.Load() >= int64(forgetAfter) && ts.byName.CompareAndDelete(k, v) {
			ts.n.Add(-1)
		}
		return true
	})
	ts.limit.Store(2 * ts.n.Load())
}

// queueKey names the wait queue of one lock in the process: Lockers over
// the same servers share it.
type queueKey struct{ deployment, ch string }

// newTarget returns the lock called name whose lock key is key, with id
// its entry in targets. Its fencing counter and release channel are key
// with ":fence" and ":released" appended, as the scripts have them.
func newTarget(name string, id any, key string, quorum, gate int, deployment string) *target {
	return &target{
		name: name, id: id, lockKey: []string{key}, keys: []string{key, key + ":fence"}, quorum: quorum,
		gate: gate, waits: queueKey{deployment, key + ":released"},
	}
}

// gated reports whether the lock's next round, under policy p at now
// (Unix ns), goes
// through the gate node: for a TTL after a round met another owner, except
// for one full parallel round per p.fullEvery, so that a stale write left
// on the gate (by a client cut off before it released there; it lives one
// TTL at most) holds the lock from contenders for fullEvery at most, not
// for its whole TTL. A gate that failed to answer is skipped for a TTL.
func (t *target) gated(p *policy, nodes int, now int64) bool {
	if nodes == 1 {
		return false
	}
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

package core

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Break deletes the lock called name (a Mutex's lock) on every node, when
// it is held by the owner whose fingerprint (see Fingerprint, Inspect) is
// owner, or whoever holds it when owner is "": the operator's way out of a
// lock whose holder is gone or hung. Naming the owner seen in an
// inspection breaks nothing if the lock has changed hands since.
//
// The holder is not asked. A holder that keeps its lock alive
// (WithKeepAlive, Locker.Do) learns of the break at its next extension,
// when a quorum of the nodes answers that the lock is not its own: Done is
// closed, Err wraps ErrLockLost, Do's function is cancelled. A holder
// without keep-alive hears of it only when its validity would have ended
// (if it watches Done), and may act meanwhile. So a break by itself
// protects nothing from the old holder: that is what fencing tokens are
// for. The fencing counters stay, so the next holder's token is higher
// than the old holder's, and a resource that checks tokens refuses the old
// holder's writes once the new holder has written. The release is
// announced, so that waiters try at once.
//
// It returns how many keys it deleted, over all the nodes. The error wraps
// ErrNotReleased, with a NodeError for each node that did not answer, when
// so many nodes did not answer that the owner may still hold the lock on a
// quorum; it has ctx.Err() when ctx ended.
func (l *Locker) Break(ctx context.Context, name, owner string) (int, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	return l.breakLocks(ctx, name, owner, Key(name))
}

// BreakSemaphore deletes the slots of the semaphore called name, of limit
// slots, held by the owner whose fingerprint is owner, or every slot when
// owner is "", as Break does for a lock: their holders learn of it as
// Break says.
func (l *Locker) BreakSemaphore(ctx context.Context, name string, limit int, owner string) (int, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	if limit < 1 || limit > MaxLimit {
		return 0, errors.New("redlock: semaphore " + strconv.Quote(name) + ": the limit must be from 1 to " + strconv.Itoa(MaxLimit))
	}
	keys := make([]string, limit)
	for i := range keys {
		keys[i] = SlotKey(name, i)
	}
	return l.breakLocks(ctx, name, owner, keys...)
}

// BreakElection deletes the election called name, when its leader's
// fingerprint is owner, or whoever leads when owner is "", as Break does
// for a lock: the leader learns of it as Break says, through Done, and the
// next leader's term is higher.
func (l *Locker) BreakElection(ctx context.Context, name, owner string) (int, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	return l.breakLocks(ctx, name, owner, ElectionKey(name))
}

// breakLocks runs the break script for keys on every node.
func (l *Locker) breakLocks(ctx context.Context, name, owner string, keys ...string) (int, error) {
	c := l.c
	r := c.run(ctx, l.pol.nodeTimeout, breakCall(keys, owner), everyNode)
	deleted, unknown := 0, 0
	for i, rep := range r.t.replies {
		if !r.t.answered[i] || rep.state == failed {
			unknown++
			continue
		}
		deleted += int(rep.counter)
	}
	if deleted > 0 {
		c.forgetHolders(name, keys)
	}
	if unknown >= c.quorum {
		return deleted, failure(ctx, name, ErrNotReleased, r.t.errs)
	}
	return deleted, nil
}

// forgetHolders stops the holdings of this Locker's Mutexes whose lock
// keys a break deleted from turning TryLock away (see Mutex.TryLock): the
// nodes are free, though the holders hear of it only as Break says.
func (c *cluster) forgetHolders(name string, keys []string) {
	now := time.Now().UnixNano()
	for _, k := range keys {
		t := c.targets.findKey(k, now)
		if k == Key(name) {
			t = c.targets.find(name, now)
		}
		if t != nil {
			t.holder.Store(nil)
		}
	}
}

package core

import (
	"fmt"
	"strconv"
	"time"

	"github.com/redlock-go/redlock/granularity"
	"github.com/redlock-go/redlock/retry"
)

// policy is a lock's options resolved once, with every value derived from
// them: rounds, leases and the keeper read these and derive nothing again.
type policy struct {
	ttl          time.Duration
	ttlms        string // the TTL in milliseconds, as the scripts take it
	nodeTimeout  time.Duration
	drift        time.Duration // subtracted from every validity window
	every        time.Duration // keep-alive period
	fullEvery    time.Duration // under contention, one full round this often
	maxHold      time.Duration // 0: no cap
	maxExtend    int           // 0: no cap
	keepAlive    bool
	refresh      bool // an owner may refresh a lock it holds
	fencing      bool
	fenceQuorum  int    // the nodes a token must be committed on
	counterTTLms string // how long a fencing counter lives after a commit, in milliseconds
	reuseQuorum  int    // the nodes that must return a holding's token for a refresh to keep it
	owner        granularity.Owner
	metadata     string // stored in the owner prefix (see WithMetadata)
	retry        retry.Policy
	events       func(Event)
}

// resolve checks o and derives the policy of a Locker of n nodes.
func (o *options) resolve(n int) (*policy, error) {
	if o.err != nil {
		return nil, o.err
	}
	p := &policy{
		ttl:          o.ttl,
		ttlms:        strconv.FormatInt(o.ttl.Milliseconds(), 10),
		drift:        time.Duration(float64(o.ttl)*o.driftFactor) + 2*time.Millisecond,
		every:        o.every,
		fullEvery:    min(o.ttl/4, time.Second),
		maxHold:      o.maxHold,
		maxExtend:    o.maxExtend,
		keepAlive:    o.keepAlive,
		fencing:      o.fencing,
		counterTTLms: strconv.FormatInt(o.counterTTL.Milliseconds(), 10),
		owner:        o.owner,
		metadata:     o.metadata,
		retry:        o.retry,
		events:       o.events,
	}
	if p.every == 0 {
		p.every = o.ttl / 3
	}
	p.nodeTimeout = o.nodeTimeout
	if p.nodeTimeout == 0 {
		p.nodeTimeout = min(max(o.ttl/20, time.Millisecond), 500*time.Millisecond)
	}
	p.refresh = o.refresh
	q := n/2 + 1
	p.fenceQuorum = q
	if !o.durable {
		p.fenceQuorum = min(q+1, n)
	}
	// A refresh keeps its token when enough nodes refreshed the holding's
	// key and found the token on it. Of those, up to n-fenceQuorum may have
	// had the key expire and be written again, the token then set by a
	// commit call that came late; the others were the owner's throughout,
	// and a fenced acquisition by another owner needs fenceQuorum nodes, so
	// none can have happened in between once more than n-fenceQuorum were.
	p.reuseQuorum = max(q, 2*(n-p.fenceQuorum)+1)
	switch {
	case o.ttl < time.Millisecond:
		return nil, fmt.Errorf("redlock: TTL %v is under a millisecond, the resolution of the nodes' expiry", o.ttl)
	case p.nodeTimeout+p.every >= o.ttl-p.drift:
		return nil, fmt.Errorf("redlock: node timeout %v plus keep-alive period %v must be shorter than the TTL %v less its drift allowance %v: the lock would be declared lost before it is kept alive", p.nodeTimeout, p.every, o.ttl, p.drift)
	}
	return p, nil
}

// validity is what is left of a lock's TTL after a round that began at
// start and was decided at end: the time it is proven held for.
func (p *policy) validity(start, end time.Time) time.Duration {
	return p.ttl - end.Sub(start) - p.drift
}

// lossAt is when a holding that is valid until until must be declared
// lost unless extended: a node timeout before, so that the holder hears
// of it while the lock is still its own.
func (p *policy) lossAt(until time.Time) time.Time { return until.Add(-p.nodeTimeout) }

// capped reports whether a lease that began at start, with count
// extensions and its next due at next, has reached the keep-alive caps.
func (p *policy) capped(start, next time.Time, count int) bool {
	return (p.maxExtend > 0 && count >= p.maxExtend) ||
		(p.maxHold > 0 && next.Add(p.ttl).After(start.Add(p.maxHold)))
}

// emit calls the events function, if any, with e for the lock called name.
func (p *policy) emit(name string, e Event) {
	if p.events != nil {
		e.Name = name
		p.events(e)
	}
}

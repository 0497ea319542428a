package core

import (
	"context"
	"hash/fnv"
	"time"
)

// cluster is what the locks of one Locker share: its nodes, the keeper
// that keeps their holdings alive, and what places their wait queues and
// gates. Mutexes and the hand-over reach the nodes through it.
type cluster struct {
	nodeSet
	keeper     *keeper
	targets    targets
	deployment string // the nodes' sorted addresses: Lockers over the same servers share wait queues
	byAddr     []int  // node indexes in the order of their addresses
}

// target returns the lock called name of the cluster: the one every
// Mutex of that name shares while the name is in use (see targets).
func (c *cluster) target(name string) *target {
	now := time.Now().UnixNano()
	if t := c.targets.find(name, now); t != nil {
		return t
	}
	return c.targets.add(newTarget(name, name, Key(name), c.quorum, c.gateOf(name), c.deployment), now)
}

// keyedTarget returns the lock whose lock key is key, named name in
// errors and events: a semaphore's slot or an election, whose keys no
// Mutex has. Its gate depends on the key, so that the slots of one
// semaphore are spread over the nodes.
func (c *cluster) keyedTarget(name, key string) *target {
	now := time.Now().UnixNano()
	if t := c.targets.findKey(key, now); t != nil {
		return t
	}
	return c.targets.add(newTarget(name, keyID(key), key, c.quorum, c.gateOf(key), c.deployment), now)
}

// gateOf returns the gate node of the lock called name (see
// Mutex.TryLock). It depends on the name and the nodes' addresses, not on
// their order, so that processes that list the nodes in different orders
// still meet at the same gate; names are spread over the nodes.
func (c *cluster) gateOf(name string) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return c.byAddr[h.Sum32()%uint32(len(c.nodes))]
}

// unlock releases the lock of target t held by owner prefix, as Unlock
// documents: ls is the holding being released, when the Mutex had one,
// whose nodes still in flight are released once they land. When a Lock of
// the same Locker waits, it hands the lock over instead (without fencing).
func (c *cluster) unlock(ctx context.Context, t *target, p *policy, prefix string, ls *lease) error {
	hi := nonce()
	rel := releaseCall(t, prefix, lowestNonce, hi)
	var late []bool
	if ls != nil {
		won, unsure := ls.lastRound()
		if won != nil {
			won.settle()
			if time.Now().UnixNano()-t.gateFailed.Load() >= int64(p.ttl) && !won.waitLanded(t.gate) {
				// The gate is far slower than the nodes that decided: no
				// gate for a TTL, as for one that failed to answer.
				t.gateFailed.Store(time.Now().UnixNano())
			}
			rel.unsure = unsure | won.unsure() // a release that finds nothing there is asked again
			late = won.releaseLate(rel)        // released once their acquire lands
		}
	}
	start := time.Now()
	var passed []bool // nodes on which the lock was handed over
	if !p.fencing {
		if w := queues.claim(&c.nodeSet, t, prefix); w != nil {
			// A Lock of this process waits for the lock: hand it over in one
			// round, without letting go of it in between. Nodes whose
			// acquire is still in flight get the hand-over too: where it has
			// not landed yet, the late release follows it.
			var n int
			if passed, n = c.handOver(ctx, t, w, prefix, hi); n >= c.quorum {
				p.observe(ctx, t.name, Event{Kind: Released, Nodes: n, Took: time.Since(start), HandOver: true}, nil, nil)
				return nil
			}
		}
	}
	skip := late
	if passed != nil {
		skip = make([]bool, len(c.nodes))
		for i := range skip {
			skip[i] = passed[i] || (late != nil && late[i])
		}
	}
	// The release goes to the gate first, and Unlock waits for its answer
	// as well as a quorum's: a gated round of another process asks the
	// gate alone, and a key left there would turn it away from a free
	// lock. A gate that failed lately is not waited for.
	await := start.UnixNano()-t.gateFailed.Load() >= int64(p.ttl)
	r := c.run(ctx, p.nodeTimeout, rel, shape{gate: -1, first: t.gate, skip: skip, awaitFirst: await})
	if await && r.t.answered[t.gate] && r.t.replies[t.gate].state == failed {
		t.gateFailed.Store(time.Now().UnixNano())
	}
	released, notOurs, unknown := 0, 0, 0
	for i, rep := range r.t.replies {
		switch {
		case skip != nil && skip[i]:
			released++ // handed over (and undone, if the hand-over failed), or released once the acquire in flight lands
		case !r.t.answered[i] || rep.state == failed:
			unknown++
		case rep.state == granted:
			released++
		default:
			notOurs++
		}
	}
	var err error
	switch {
	case released >= c.quorum, notOurs < c.quorum && unknown < c.quorum:
		// Released, or no quorum can still be ours: what did not answer
		// keeps the key until its TTL.
		p.observe(ctx, t.name, Event{Kind: Released, Nodes: released, Took: time.Since(start)}, &r.t, c.nodes)
		return nil
	case notOurs >= c.quorum:
		err = failure(ctx, t.name, ErrNotHeld, r.t.errs)
	default:
		err = failure(ctx, t.name, ErrNotReleased, r.t.errs)
	}
	p.observe(ctx, t.name, Event{Kind: ReleaseFailed, Nodes: released, Took: time.Since(start), Err: err}, &r.t, c.nodes)
	return err
}

// handOver passes the lock that owner from holds (taken by rounds up to
// hi) to waiter w, a Lock of the same Locker. On a quorum within w's
// validity, w holds the lock and learns it at once; otherwise the round is
// undone and w goes back to trying. It returns the nodes on which the lock
// was passed (and is no longer from's), and how many. ctx is the Unlock's,
// for w's events.
func (c *cluster) handOver(ctx context.Context, t *target, w *waiter, from, hi string) ([]bool, int) {
	start := time.Now()
	claim := nonce()
	r := c.run(context.Background(), w.pol.nodeTimeout, handoverCall(t, w.pol, w.prefix, claim, from, lowestNonce, hi),
		shape{gate: -1, first: t.gate})
	passed := make([]bool, len(c.nodes))
	for i, rep := range r.t.replies {
		passed[i] = r.t.answered[i] && rep.state == granted
	}
	validity := w.pol.validity(start, time.Now())
	if r.t.yes >= c.quorum && validity > 0 {
		r.keep()
		until := start.Add(validity)
		w.handed <- newLease(w.t, w.pol, c.keeper, w.prefix, claim, 0, start, until, r)
		w.pol.observe(ctx, t.name, Event{Kind: Acquired, Nodes: r.t.yes, Took: time.Since(start), Until: until, HandOver: true, Began: true}, &r.t, c.nodes)
		return passed, r.t.yes
	}
	r.undo(start)
	w.handed <- nil
	return passed, r.t.yes
}

// failure builds the error of a failed operation on the lock called name:
// the sentinel, the node errors, and ctx's error when it ended.
func failure(ctx context.Context, name string, sentinel error, nodeErrs []error) error {
	errs := make([]error, 0, len(nodeErrs)+2)
	errs = append(errs, sentinel)
	errs = append(errs, nodeErrs...)
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return &opError{name: name, errs: errs}
}

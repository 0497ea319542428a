package core

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Mutex is a handle for one named lock of a Locker. Its methods are safe
// for concurrent use; with the default owner, granularity.Handle(), the
// Mutex value itself is the owner, so share one Mutex between goroutines
// only when they should share the lock.
type Mutex struct {
	c      *cluster
	t      *target
	pol    *policy
	err    error  // invalid name or options: every method returns it
	handle string // this handle's random identity, for granularity.Handle

	mu  sync.Mutex
	cur *lease // the current holding, nil when none

	prefixes atomic.Pointer[cachedPrefix] // the last owner prefix of this handle
}

// Name returns the lock's name.
func (m *Mutex) Name() string { return m.t.name }

// prefix returns the owner prefix of values stored by ctx's owner.
func (m *Mutex) prefix(ctx context.Context) (string, error) {
	if m.err != nil {
		return "", m.err
	}
	id, err := m.pol.owner.ID(ctx, m.handle)
	if err != nil {
		return "", err
	}
	if p := m.prefixes.Load(); p != nil && p.id == id && p.meta == m.pol.metadata {
		return p.prefix, nil // the target's cache serves the lock's other handles
	}
	p, err := m.t.prefixOf(id, m.pol.metadata)
	if err != nil {
		return "", err
	}
	m.prefixes.Store(p)
	return p.prefix, nil
}

// holding returns the current lease when it is prefix's, nil otherwise.
func (m *Mutex) holding(prefix string) *lease {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur != nil && m.cur.prefix == prefix {
		return m.cur
	}
	return nil
}

// current returns the current lease, nil when there is none.
func (m *Mutex) current() *lease {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur
}

// Until returns the end of the validity window: the time until which the
// lock is proven held, measured on this host's monotonic clock. It is the
// zero Time when this Mutex holds no lock: before it acquires, after
// Unlock, after a loss, and once the validity has passed.
func (m *Mutex) Until() time.Time {
	if ls := m.current(); ls != nil {
		return ls.validUntil()
	}
	return time.Time{}
}

// Fence returns the fencing token of the lock this Mutex holds (see
// WithFencing), or 0 when it holds none or fencing is off. The token
// strictly increases across successive holders of the lock, and does not
// change when the holder refreshes or extends it. Pass it to the resource
// the lock protects; the resource must refuse any token lower than the
// highest it has seen.
func (m *Mutex) Fence() uint64 {
	if ls := m.current(); ls != nil && ls.live() {
		return ls.fence
	}
	return 0
}

// TryLock makes one acquisition round: it sends the acquire script to every
// node in parallel and returns as soon as a quorum granted or a quorum has
// become impossible. For a TTL after a round of this lock met another
// owner, its rounds ask the lock's gate node first, alone, and stop there
// if it refuses (all but one round per quarter TTL, at most a second
// apart), so that contenders meet at one node instead of splitting the
// votes. With refresh on (the default) an owner that already holds the
// lock gets it again with a fresh TTL.
//
// On success the lock is held until Until(). When a quorum refreshed the
// keys of the holding this Mutex had, that holding goes on (its keep-alive,
// Done channel and fencing token stay); otherwise the acquisition is a new
// holding, and one this Mutex had before ends as lost.
//
// On failure it returns an error that wraps ErrNotAcquired and a NodeError
// for every node that refused or failed, and ctx.Err() when ctx ended. What
// the round wrote is taken back: on the nodes that granted before TryLock
// returns, on those that failed or were still in flight in the background
// (see Locker.Wait); a node whose call failed after it may have been sent
// is asked again one and three node timeouts later, since the call can
// still land after the first undo. A key that another round or holding of
// the owner also claims stays. A holding this Mutex had before a failed
// refresh stays valid until its old Until().
//
// While another owner's Mutex of the same Locker holds the lock, within
// its validity, TryLock fails at once without a round: the error wraps
// ErrNotAcquired and ErrHeldByOther, with no NodeError. (The holder's
// validity proves that every round would be refused.) While another
// owner's Mutex of the same Locker releases it, TryLock first waits for
// that Unlock. While another owner's TryLock on the same Locker has its
// round in flight, TryLock waits for that round instead of making one
// alongside it: when it wins, or a quorum refused it because another owner
// holds the lock, TryLock fails in the same way; otherwise (the round
// failed on node errors, or its context ended) TryLock makes its own
// round. So the Mutexes of a Locker make one round at a time for a lock,
// however many goroutines try it, and do not split the nodes' votes among
// themselves; a TryLock still takes one round at most, and the one it
// waited for.
//
// The calls of a round can land on a node after the round returned: an
// acquire still on its way at Unlock is released once it lands, and a
// release still on its way after Unlock returned removes its key once it
// gets there. Two such keys of ended holdings of the Locker can refuse a
// round on a quorum for a moment. When a round is refused while such calls
// of its Locker are out for the lock, TryLock waits for them (two node
// timeouts at most) and makes one more round, so that a lock left idle by
// Unlocks that returned nil is acquirable at once.
//
// It returns the option or name error of NewMutex, or the Owner's error,
// without touching the network.
func (m *Mutex) TryLock(ctx context.Context) error {
	if m.err != nil {
		return m.err
	}
	prefix, err := m.prefix(ctx)
	if err != nil {
		return err
	}
	t := m.t
	if h := t.holder.Load(); h != nil && h.prefix != prefix && h.live() {
		return m.turnAway(ctx, errHeldHere)
	}
	if ls := t.releasing.Load(); ls != nil && ls.prefix != prefix {
		if ended, _ := ls.release.wait(ctx); !ended {
			return m.givenUp(ctx)
		}
		if h := t.holder.Load(); h != nil && h.prefix != prefix && h.live() {
			return m.turnAway(ctx, errHeldHere) // handed over to a Lock
		}
	}
	a := t.trying.Load()
	if a == nil {
		own := &tryRound{prefix: prefix}
		if t.trying.CompareAndSwap(nil, own) {
			err := m.tryAgainAfterOwn(ctx)
			t.trying.CompareAndSwap(own, nil)
			own.end(err)
			return err
		}
		a = t.trying.Load()
	}
	if a != nil && a.prefix != prefix {
		ended, err := a.wait(ctx)
		switch {
		case !ended:
			return m.givenUp(ctx)
		case err == nil:
			return m.turnAway(ctx, errHeldHere)
		case hopeless(err) && errors.Is(err, ErrHeldByOther):
			return m.turnAway(ctx, errHeldSeen)
		}
	}
	return m.tryAgainAfterOwn(ctx)
}

// tryAgainAfterOwn makes TryLock's round. When the nodes refused it and
// calls of the Locker's own earlier rounds for the lock were still on
// their way as it began (an earlier holding's acquire that landed after
// its Unlock, to be released then, or a release still in flight; see
// target.background), the refusal may have been such a holding's key: it
// waits for those calls, two node timeouts at most, and makes one more
// round.
func (m *Mutex) tryAgainAfterOwn(ctx context.Context) error {
	behind := m.t.background.n.Load() > 0
	err := m.try(ctx)
	if err == nil || !behind || !errors.Is(err, ErrHeldByOther) {
		return err
	}
	wait, cancel := context.WithTimeout(ctx, 2*m.pol.nodeTimeout)
	busy := m.t.background.wait(wait)
	cancel()
	if busy != nil {
		return err
	}
	return m.try(ctx)
}

// try makes TryLock's round. Lock's rounds are made by try alone: a Lock
// woken by a release trusts the nodes, not a holding here that has not
// noticed its loss yet.
func (m *Mutex) try(ctx context.Context) error {
	now := time.Now().UnixNano()
	m.t.touch(now)
	err := m.tryLock(ctx, m.t.gated(m.pol, len(m.c.nodes), now))
	if errors.Is(err, ErrHeldByOther) {
		m.t.contended.Store(time.Now().UnixNano())
	}
	return err
}

// turnAway returns the error of a TryLock that fails without a round of
// its own because of what the Locker knows (see TryLock), with cause its
// reason. It does not count as contention for the gate (see target.gated):
// the Mutexes of one Locker make one round at a time for a lock, so their
// votes do not split.
func (m *Mutex) turnAway(ctx context.Context, cause error) error {
	m.t.touch(time.Now().UnixNano())
	err := m.fail(ctx, ErrNotAcquired, []error{cause})
	m.pol.observe(ctx, m.t.name, Event{Kind: NotAcquired, Err: err}, nil, nil)
	runtime.Gosched() // a caller that tries again at once must not starve the holder
	return err
}

// givenUp returns the error of a TryLock whose ctx ended while it waited
// for another Mutex's round (see TryLock).
func (m *Mutex) givenUp(ctx context.Context) error {
	err := m.fail(ctx, ErrNotAcquired, nil)
	m.pol.observe(ctx, m.t.name, Event{Kind: NotAcquired, Err: err}, nil, nil)
	return err
}

var (
	errHeldHere = fmt.Errorf("%w: a Mutex of this Locker holds it", ErrHeldByOther)
	errHeldSeen = fmt.Errorf("%w: a round of this Locker found it held", ErrHeldByOther)
)

// tryRound is a TryLock round in flight for a lock, which other owners'
// TryLocks on the same Locker wait for (see TryLock).
type tryRound struct {
	prefix string // its owner's
	flight
}

// flight is an operation in flight that others wait for, and its outcome.
type flight struct {
	mu    sync.Mutex
	ended bool
	err   error         // the outcome, once ended
	done  chan struct{} // made by the first waiter, closed by end
}

// end records the outcome and lets the waiters go.
func (f *flight) end(err error) {
	f.mu.Lock()
	f.ended, f.err = true, err
	if f.done != nil {
		close(f.done)
	}
	f.mu.Unlock()
}

// wait reports whether the operation ended before ctx did, and its outcome.
func (f *flight) wait(ctx context.Context) (bool, error) {
	f.mu.Lock()
	if f.ended {
		f.mu.Unlock()
		return true, f.err
	}
	if f.done == nil {
		f.done = make(chan struct{})
	}
	done := f.done
	f.mu.Unlock()
	select {
	case <-done:
		return true, f.err
	case <-ctx.Done():
		return false, nil
	}
}

// tryLock makes one acquisition round. gated, for rounds under contention,
// asks the lock's gate node first and alone and ends the round at once if it
// refuses: contenders then meet at one node instead of splitting the votes
// of all of them, and a round that cannot win writes nothing.
func (m *Mutex) tryLock(ctx context.Context, gated bool) error {
	prefix, err := m.prefix(ctx)
	if err != nil {
		return err
	}
	c, t, p := m.c, m.t, m.pol
	cur := m.holding(prefix)
	if cur != nil && cur.reason() != nil {
		cur = nil // ended: a new acquisition, with a claim of its own
	}
	claim := nonce()
	if cur != nil && p.refresh {
		claim = cur.claim // a refresh of the holding
	}
	s := everyNode
	if gated {
		s.gate = t.gate
	}
	start := time.Now()
	r := c.run(ctx, p.nodeTimeout, acquireCall(t, p, prefix, claim, cur != nil, gated), s)
	if gated && r.t.answered[t.gate] && r.t.replies[t.gate].state == failed {
		t.gateFailed.Store(time.Now().UnixNano()) // no gate for a TTL: a dead gate costs a node timeout
	}
	validity := p.validity(start, time.Now())
	if r.t.yes < c.quorum || validity <= 0 {
		r.undo(start)
		err := m.fail(ctx, ErrNotAcquired, r.t.errs)
		err.(*opError).final = r.t.rejected > len(c.nodes)-c.quorum
		p.observe(ctx, t.name, Event{Kind: NotAcquired, Nodes: r.t.yes, Took: time.Since(start), Err: err}, &r.t, c.nodes)
		return err
	}
	until := start.Add(validity)
	fence, same := uint64(0), r.t.fresh >= c.quorum
	if p.fencing {
		if same = cur != nil && cur.fence != 0 && refreshedWith(&r.t, cur.fence) >= p.reuseQuorum; same {
			fence = cur.fence // no other owner held the lock since it was committed
		} else if fence, err = m.commitFence(ctx, prefix, claim, &r.t, until); err != nil {
			r.undo(start)
			p.observe(ctx, t.name, Event{Kind: NotAcquired, Nodes: r.t.yes, Took: time.Since(start), Err: err}, &r.t, c.nodes)
			return err
		}
	}
	r.keep()
	renewed := m.install(same, newLease(t, p, c.keeper, prefix, claim, fence, start, until, r))
	p.observe(ctx, t.name, Event{Kind: Acquired, Nodes: r.t.yes, Took: time.Since(start), Until: until, Began: !renewed}, &r.t, c.nodes)
	return nil
}

// refreshedWith counts the nodes that refreshed the owner's key and found
// token committed on it.
func refreshedWith(t *tally, token uint64) int {
	n := 0
	for i, rep := range t.replies {
		if t.answered[i] && rep.state == refreshed && rep.token == token {
			n++
		}
	}
	return n
}

// commitFence takes T = 1 + the highest counter the acquisition read (from
// every node that answered it), or the clock in microseconds if that is
// higher, and commits counter = max(counter, T) on every node where the
// owner now holds the lock with claim, the counter to live the counter
// TTL. T is handed out only if the fence quorum (see WithFencing) confirms
// before the validity ends. Every earlier token committed within the
// counter TTL was committed on such a set, which shares at least two nodes
// with the quorum that granted this acquisition: T exceeds it even if one
// node lost its counters. An earlier token whose counters expired was
// committed more than the counter TTL ago, and no token exceeds the clock
// of its time (see WithFencing): the clock puts T above it.
func (m *Mutex) commitFence(ctx context.Context, prefix, claim string, acq *tally, until time.Time) (uint64, error) {
	p := m.pol
	if acq.yes < p.fenceQuorum {
		return 0, m.fail(ctx, ErrNotAcquired, append(acq.errs, errFenceQuorum))
	}
	var highest int64
	for i, rep := range acq.replies {
		if acq.answered[i] && rep.state != failed {
			highest = max(highest, rep.counter)
		}
	}
	token := max(uint64(highest)+1, uint64(time.Now().UnixMicro())) // the clock, for names whose counters expired
	r := m.c.run(ctx, p.nodeTimeout, fenceCall(m.t, p, prefix, claim, token), everyNode)
	if r.t.yes < p.fenceQuorum || !time.Now().Before(until) {
		return 0, m.fail(ctx, ErrNotAcquired, append(r.t.errs, errFenceNotCommitted))
	}
	return token, nil
}

var (
	errFenceQuorum       = errors.New("redlock: granted on fewer nodes than a fencing token must be committed on")
	errFenceNotCommitted = errors.New("redlock: fencing token not committed on enough nodes within the validity")
)

// install makes ls the Mutex's holding. When same is set (the round that
// won ls refreshed the keys of the current holding on a quorum, and with
// fencing found its token there) and the current holding is the owner's
// with the same token, that holding is renewed instead. A holding that ls
// replaces while it was still valid ends as lost: its keys were not all
// there to refresh; one whose validity had passed ends too. It reports
// whether the current holding was renewed.
func (m *Mutex) install(same bool, ls *lease) bool {
	m.mu.Lock()
	old := m.cur
	if same && old != nil && old.prefix == ls.prefix && old.fence == ls.fence && old.renew(ls.start, ls.until, ls.won) {
		m.mu.Unlock()
		return true
	}
	m.cur = ls
	m.mu.Unlock()
	m.t.holder.Store(ls)
	if old != nil && old != ls && old.live() {
		err := old.lossError(nil)
		old.end(err)
		old.pol.emit(old.t.name, Event{Kind: Lost, Err: err})
	}
	if old != nil && old != ls && old.reason() == nil {
		old.end(old.lossError(nil)) // its validity passed unwatched
	}
	if ls.pol.keepAlive {
		ls.watch(true)
	}
	return false
}

// Done returns a channel that is closed when this Mutex's holding of the
// lock ends: when the lock can no longer be proven held (Err then wraps
// ErrLockLost), or at Unlock. For a kept-alive lock (WithKeepAlive) loss is
// noticed when a quorum of nodes answer that the lock is not ours (deleted
// or taken over) or when no extension was confirmed a node timeout before
// the validity ends; without keep-alive, a node timeout before Until().
// Either way the holder hears of it while the validity lasts. Done returns
// a closed channel when the Mutex holds no lock. Call it after acquiring:
// each holding has a channel of its own.
func (m *Mutex) Done() <-chan struct{} {
	ls := m.current()
	if ls == nil {
		return closedChan
	}
	ls.watch(false)
	return ls.doneChan()
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Err returns nil while the Mutex holds its lock; once the holding has
// ended, the reason: an error wrapping ErrLockLost (with the node errors)
// after a loss, ErrNotHeld after Unlock or when no lock was held.
func (m *Mutex) Err() error {
	ls := m.current()
	if ls == nil {
		return ErrNotHeld
	}
	if err := ls.reason(); err != nil {
		return err
	}
	if !ls.live() {
		ls.end(ls.lossError(nil)) // its validity passed unwatched
		return ls.reason()
	}
	return nil
}

// whenEnded calls fn with the reason when the current holding ends, at
// once if it already has. It reports false when no lock is held.
func (m *Mutex) whenEnded(fn func(error)) bool {
	ls := m.current()
	if ls == nil {
		return false
	}
	ls.whenEnded(fn)
	return true
}

// fail builds the error of a failed operation.
func (m *Mutex) fail(ctx context.Context, sentinel error, nodeErrs []error) error {
	return failure(ctx, m.t.name, sentinel, nodeErrs)
}

// withEnd adds ctx's error to err, a round's failure, when ctx ended after
// the round was decided: Lock then ends because ctx did, and says so.
func withEnd(ctx context.Context, err error) error {
	oe, ok := err.(*opError)
	if !ok || ctx.Err() == nil || errors.Is(err, ctx.Err()) {
		return err
	}
	return &opError{name: oe.name, errs: append(oe.errs[:len(oe.errs):len(oe.errs)], ctx.Err()), final: oe.final}
}

// hopeless reports whether err is a round's failure that no round can
// undo: so many nodes rejected the command that no quorum is left.
func hopeless(err error) bool {
	oe, ok := err.(*opError)
	return ok && oe.final
}

// Lock acquires the lock, making rounds spaced by the retry policy (see
// WithRetry) until one succeeds, the policy gives up, or ctx ends. While it
// waits, a release of the lock announced by a node that implements
// Subscriber ends the delay at once. Once another owner has been seen,
// rounds ask one node of the lock (its gate) first, so that contenders do
// not split the votes (see TryLock).
//
// The Locks of one process that wait on one lock form a queue: a release
// wakes the one that has waited longest, alone, and a Lock that begins
// while others of the process wait with a working subscription joins the
// end of the queue instead of trying first. A holder on the same Locker
// that unlocks hands the lock to the first waiter directly (see Unlock).
// Without notifications, or while they are broken, every waiter polls with
// its policy's delays. A Mutex that already holds the lock refreshes it
// at once, like TryLock, and never queues behind the waiters it keeps out.
//
// On failure it returns the last round's error, which wraps ErrNotAcquired
// and the node errors, and also ctx.Err() when ctx ended; nothing the
// rounds created is left behind (see TryLock). It stops at the first round
// in which so many nodes rejected the command itself that no quorum is
// left (NOPERM, CROSSSLOT and the others of ErrNodeRejected): asking again
// would only fail the same way until ctx ends.
func (m *Mutex) Lock(ctx context.Context) (err error) {
	prefix, err := m.prefix(ctx)
	if err != nil {
		return err
	}
	ctx, started := m.pol.lockStarted(ctx, m.t.name)
	defer m.waited(ctx, started, &err)
	cur := m.holding(prefix)
	holder := cur != nil && cur.live()
	var (
		policy backoff.BackOff
		timer  *time.Timer
		w      *waiter
	)
	queued := !holder && queues.behind(m.t) // wait for our turn before the first round
	for {
		if !queued {
			if w != nil {
				if ls := w.busy(); ls != nil {
					return m.handedOver(ctx, ls)
				}
			}
			err = m.try(ctx)
			if w != nil {
				w.tried(err == nil)
			}
			if err == nil || !errors.Is(err, ErrNotAcquired) || ctx.Err() != nil || hopeless(err) {
				return withEnd(ctx, err)
			}
		}
		if policy == nil {
			policy = m.pol.retry()
			var live bool
			if !holder {
				if w, live = queues.wait(&m.c.nodeSet, m.t, m.pol, prefix); w != nil {
					defer func() {
						if ls := w.done(); ls != nil {
							// Handed the lock as Lock returns without it.
							ls.end(ErrNotHeld)
							_ = m.c.unlock(context.Background(), ls.t, ls.pol, ls.prefix, ls)
						}
					}()
				}
			}
			if live && !queued {
				// A release between the round and joining the queue went
				// unheard: make the policy's next round now that releases
				// are heard, without its delay. (A subscription still
				// opening wakes the queue when it is up.)
				if policy.NextBackOff() == backoff.Stop {
					return err
				}
				continue
			}
		}
		delay := policy.NextBackOff()
		switch {
		case delay == backoff.Stop && queued:
			queued = false // the policy allows no wait: make the one round
			continue
		case delay == backoff.Stop:
			return err
		}
		queued = false
		if timer == nil {
			timer = time.NewTimer(delay)
			defer timer.Stop()
		} else {
			timer.Reset(delay)
		}
		if ls := w.sleep(ctx, timer.C); ls != nil {
			return m.handedOver(ctx, ls)
		}
		if ctx.Err() != nil {
			if err == nil {
				return m.fail(ctx, ErrNotAcquired, nil)
			}
			return addCause(err, ctx.Err())
		}
	}
}

// handedOver ends a Lock that was handed the lock by its holder (see
// Unlock): it holds the lock as ls, unless ctx has ended meanwhile, in
// which case the caller will not use it and it is released again.
func (m *Mutex) handedOver(ctx context.Context, ls *lease) error {
	m.install(false, ls)
	if ctx.Err() != nil {
		_ = m.Unlock(context.WithoutCancel(ctx))
		return m.fail(ctx, ErrNotAcquired, nil)
	}
	return nil
}

// Unlock releases the lock on every node where ctx's owner holds it, as
// taken by any acquisition that began before Unlock; a release still in
// flight never removes a later acquisition by the same owner. It returns
// nil when the lock is released: a quorum released it, or so few nodes
// can still be holding it for this owner that no quorum can (nodes that
// did not answer keep it until its TTL). Otherwise it returns an error that
// wraps ErrNotHeld when a quorum answered that the lock is not this
// owner's (it had lapsed, or was taken), or ErrNotReleased when too few
// nodes answered to tell; either carries a NodeError for every node that
// did not release it, and ctx.Err() when ctx ended. Either way this Mutex
// holds no lock afterwards.
//
// When a Lock of another owner on the same Locker waits for the lock, Unlock
// hands the lock over instead of releasing it: one round passes the key to
// the waiter on every node where this owner holds it, and the waiter holds
// the lock if a quorum agreed within its validity (see Lock). It does so at
// most 8 times in a row, then releases for everyone. Without fencing only.
func (m *Mutex) Unlock(ctx context.Context) error {
	prefix, err := m.prefix(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	ls := m.cur
	if ls != nil && ls.prefix == prefix {
		m.cur = nil
	} else {
		ls = nil
	}
	m.mu.Unlock()
	if ls == nil {
		return m.c.unlock(ctx, m.t, m.pol, prefix, nil)
	}
	// Other owners' TryLocks wait for the release (see TryLock): their
	// rounds would only meet this owner's keys.
	releasing := m.t.releasing.CompareAndSwap(nil, ls)
	ls.end(ErrNotHeld) // stop keeping it alive before releasing it
	err = m.c.unlock(ctx, m.t, m.pol, prefix, ls)
	if releasing {
		m.t.releasing.CompareAndSwap(ls, nil)
		ls.release.end(err)
	}
	return err
}

// Extend resets the lock's TTL on every node where ctx's owner holds it; it
// never re-creates a lock that has lapsed on a node. The extension counts
// only when a quorum confirms it before the current validity ends; Until()
// then moves to the new end of validity.
//
// On failure Until() is unchanged and the error wraps one of: ErrNotHeld
// when this owner does not hold the lock on a quorum of nodes (it lapsed,
// was released, or was taken); ErrLockLost when the validity ended before a
// quorum confirmed; ErrNotExtended when too few nodes answered but the lock
// is still held until Until(). The error also carries the node errors and
// ctx.Err() when ctx ended.
func (m *Mutex) Extend(ctx context.Context) error {
	prefix, err := m.prefix(ctx)
	if err != nil {
		return err
	}
	cur := m.holding(prefix)
	var until time.Time
	if cur != nil && cur.reason() == nil {
		cur.mu.Lock()
		until = cur.until
		cur.mu.Unlock()
		if !time.Now().Before(until) {
			err := m.fail(ctx, ErrLockLost, nil)
			m.pol.observe(ctx, m.t.name, Event{Kind: ExtendFailed, Err: err}, nil, nil)
			return err
		}
	} else {
		cur = nil
	}
	c, p := m.c, m.pol
	claim := lowestNonce // no holding: the owner's key, as another handle of the owner holds it
	if cur != nil {
		claim = cur.claim
	}
	start := time.Now()
	r := c.run(ctx, p.nodeTimeout, extendCall(m.t, p, prefix, claim), everyNode)
	end := time.Now()
	verdict, newUntil := c.judgeExtension(&r.t, p, start, end, until)
	switch verdict {
	case extensionTooLate:
		err = m.fail(ctx, ErrLockLost, r.t.errs)
	case extensionNotOurs:
		err = m.fail(ctx, ErrNotHeld, r.t.errs)
	case extensionUnconfirmed:
		err = m.fail(ctx, ErrNotExtended, r.t.errs)
	}
	if err != nil {
		e := Event{Kind: ExtendFailed, Nodes: r.t.yes, Took: end.Sub(start), Err: err}
		if verdict == extensionUnconfirmed {
			e.Until = until // still held until then
		}
		p.observe(ctx, m.t.name, e, &r.t, c.nodes)
		return err
	}
	var fence uint64
	if cur != nil {
		fence = cur.fence
	}
	renewed := m.install(cur != nil, newLease(m.t, p, c.keeper, prefix, claim, fence, start, newUntil, nil))
	p.observe(ctx, m.t.name, Event{Kind: Extended, Nodes: r.t.yes, Took: end.Sub(start), Until: newUntil, Began: !renewed}, &r.t, c.nodes)
	return nil
}

package core

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/redlock-go/redlock/granularity"
)

// Mutex is a handle for one named lock of a Locker. Its methods are safe
// for concurrent use; with the default owner, granularity.Handle(), the
// Mutex value itself is the owner, so share one Mutex between goroutines
// only when they should share the lock.
type Mutex struct {
	locker *Locker
	name   string
	keys   []string // the lock key and the fencing counter key
	opts   options
	err    error  // invalid name or option: every method returns it
	handle string // this handle's random identity, for granularity.Handle
	gate   int    // the node that gated retries ask first
	ttlms  string

	prefixCache atomic.Pointer[cachedPrefix] // the last owner ID and its prefix
	contended   atomic.Int64                 // when a round last met another owner, in Unix ns
	fullRound   atomic.Int64                 // when the last full round under contention began, in Unix ns
	gateFailed  atomic.Int64                 // when the gate node last failed to answer, in Unix ns

	mu    sync.Mutex
	owner string    // the owner prefix of the lock we hold, "" when none
	until time.Time // end of the validity window of the lock we hold
	lease *lease    // the current holding, when kept alive or watched
	last  *round    // the round that acquired the current holding
	fence uint64    // the fencing token of the current holding
}

type cachedPrefix struct{ id, prefix string }

// Name returns the lock's name.
func (m *Mutex) Name() string { return m.name }

// Until returns the end of the validity window: the time until which the
// lock is proven held, measured on this host's monotonic clock. It is the
// zero Time when this Mutex holds no lock.
func (m *Mutex) Until() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.until
}

// prefix returns the owner prefix of values stored by ctx's owner.
func (m *Mutex) prefix(ctx context.Context) (string, error) {
	if m.err != nil {
		return "", m.err
	}
	id, err := m.opts.owner.ID(ctx, m.handle)
	if err != nil {
		return "", err
	}
	if c := m.prefixCache.Load(); c != nil && c.id == id {
		return c.prefix, nil
	}
	m.prefixCache.Store(&cachedPrefix{id, id + "|"})
	return id + "|", nil
}

// TryLock makes one acquisition round: it sends the acquire script to every
// node in parallel and returns as soon as a quorum granted or a quorum has
// become impossible. For a TTL after a round of this Mutex met another
// owner, its rounds ask the lock's gate node first, alone, and stop there
// if it refuses (all but one round per quarter TTL, at most a second
// apart), so that contenders meet at one node instead of splitting the
// votes. With refresh on (the default) an owner that already holds the
// lock gets it again with a fresh TTL.
//
// On success the lock is held until Until(). On failure it returns an error
// that wraps ErrNotAcquired and a NodeError for every node that refused or
// failed, and ctx.Err() when ctx ended; every node the round may have
// written is released again, those that already answered before TryLock
// returns, a node still in flight as soon as it answers. A lock this Mutex
// held before a failed refresh stays held until its old Until().
//
// It returns the option or name error of NewMutex, or the Owner's error,
// without touching the network.
func (m *Mutex) TryLock(ctx context.Context) error {
	err := m.tryLock(ctx, m.gated())
	if errors.Is(err, ErrHeldByOther) {
		m.contended.Store(time.Now().UnixNano())
	}
	return err
}

// gated reports whether the next round goes through the gate node: for a
// TTL after a round met another owner, except for one full parallel round
// per fullEvery, so that a stale write left on the gate (by a client cut
// off before it released there; it lives one TTL at most) holds the lock
// from contenders for fullEvery at most, not for its whole TTL.
func (m *Mutex) gated() bool {
	now := time.Now().UnixNano()
	ttl := int64(m.opts.ttl)
	if len(m.locker.nodes) == 1 {
		return false
	}
	if now-m.contended.Load() >= ttl || now-m.gateFailed.Load() < ttl {
		m.fullRound.Store(now) // an ungated round is a full round
		return false
	}
	last := m.fullRound.Load()
	if now-last < int64(m.opts.fullEvery()) || !m.fullRound.CompareAndSwap(last, now) {
		return true
	}
	return false
}

// tryLock makes one acquisition round. gated, for rounds under contention,
// asks the lock's gate node first and alone and ends the round at once if it
// refuses: contenders then meet at one node instead of splitting the votes
// of all of them, and a round that cannot win writes nothing. A gate that
// grants or fails is followed by the other nodes in parallel, as usual.
func (m *Mutex) tryLock(ctx context.Context, gated bool) error {
	prefix, err := m.prefix(ctx)
	if err != nil {
		return err
	}
	round := nonce()
	refresh := "0"
	if m.opts.refresh {
		refresh = "1"
	}
	keys := m.keys[:1]
	if m.opts.fencing {
		keys = m.keys
	}
	start := time.Now()
	r := m.locker.newRound(ctx, m.opts.timeout(), acquireScript, keys, []string{prefix, round, m.ttlms, refresh})
	if gated {
		r.gate = m.gate
	}
	r.start()
	if gated && r.gateReply.state == failed {
		m.gateFailed.Store(time.Now().UnixNano()) // no gate for a TTL: a dead gate costs a node timeout
	}
	ok, story, replies := r.collect()
	validity := m.opts.ttl - time.Since(start) - m.opts.drift()
	if ok < m.locker.quorum || validity <= 0 {
		// Nodes still in flight are usually a moment away: wait for them a
		// little (as long again as the round took, within the node timeout),
		// so that their writes are released before the next contender tries.
		r.drain(replies, min(max(time.Since(start), time.Millisecond), m.opts.timeout()))
		// A refresh of a lock this Mutex does not hold, with an owner no
		// other handle shares, found a leftover of one of its own earlier
		// rounds: release it too, rather than keep it alive for another TTL
		// against everyone. A shared owner's key may be another handle's
		// valid lock, and stays.
		r.undoRefreshed = m.opts.owner == granularity.Handle() && !m.holds(prefix)
		r.decide(round, replies)
		return m.fail(ctx, ErrNotAcquired, story)
	}
	r.decide("", replies)
	until := start.Add(validity)
	var fence uint64
	if m.opts.fencing {
		if fence = m.heldFence(prefix); fence == 0 {
			if fence, err = m.commitFence(ctx, prefix, replies, until); err != nil {
				m.releaseRound(prefix, round)
				return err
			}
		}
	}
	m.acquired(prefix, r, start, until, ok, fence, false)
	return nil
}

// acquired records the holding that round r, begun at start, won for
// prefix on ok nodes; handOver when another Mutex handed it over.
func (m *Mutex) acquired(prefix string, r *round, start, until time.Time, ok int, fence uint64, handOver bool) {
	m.mu.Lock()
	m.last = r
	m.mu.Unlock()
	m.held(prefix, start, until)
	m.mu.Lock()
	m.fence = fence
	m.mu.Unlock()
	m.emit(Event{Kind: Acquired, Nodes: ok, Took: time.Since(start), Until: until, HandOver: handOver})
}

// holds reports whether this Mutex holds a valid lock for prefix.
func (m *Mutex) holds(prefix string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.owner == prefix && time.Now().Before(m.until)
}

// heldFence returns the fencing token of the lock this Mutex holds for
// prefix, or 0: a refresh keeps the token it had.
func (m *Mutex) heldFence(prefix string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.owner == prefix && time.Now().Before(m.until) {
		return m.fence
	}
	return 0
}

// commitFence takes T = max(counters of the granting nodes) + 1 and commits
// counter = max(counter, T) on every node that still holds our lock. T is
// ours only if a quorum confirms before the validity ends: any earlier
// holder committed its token on a quorum, which shares a node with the
// quorum that granted us, so T exceeds every token handed out before.
func (m *Mutex) commitFence(ctx context.Context, prefix string, replies []reply, until time.Time) (uint64, error) {
	var highest int64
	for _, rep := range replies {
		if rep.state == granted || rep.state == refreshed {
			highest = max(highest, rep.counter)
		}
	}
	token := uint64(highest) + 1
	r := m.locker.newRound(ctx, m.opts.timeout(), fenceScript, m.keys, []string{prefix, strconv.FormatUint(token, 10)})
	r.start()
	ok, story, replies := r.collect()
	r.decide("", replies)
	if ok < m.locker.quorum || !time.Now().Before(until) {
		return 0, m.fail(ctx, ErrNotAcquired, append(story, errFenceNotCommitted))
	}
	return token, nil
}

var errFenceNotCommitted = errors.New("redlock: fencing token not committed on a quorum within the validity")

// releaseRound releases what one acquisition round wrote, on every node,
// after the round itself succeeded but the acquisition was abandoned.
func (m *Mutex) releaseRound(prefix, round string) {
	ctx := context.Background()
	r := m.locker.newRound(ctx, m.opts.timeout(), releaseScript, m.keys[:1], []string{prefix, round, round})
	r.start()
	_, _, replies := r.collect()
	r.decide("", replies)
}

// Fence returns the fencing token of the lock this Mutex holds (see
// WithFencing), or 0 when it holds none or fencing is off. The token
// strictly increases across successive holders of the lock, and does not
// change when the holder refreshes or extends it. Pass it to the resource
// the lock protects; the resource must refuse any token lower than the
// highest it has seen.
func (m *Mutex) Fence() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.owner == "" {
		return 0
	}
	return m.fence
}

// held records a confirmed holding by prefix until until: a new lease, or
// a longer validity for the current one.
func (m *Mutex) held(prefix string, start, until time.Time) {
	m.mu.Lock()
	old := m.lease
	same := m.owner == prefix
	m.owner, m.until = prefix, until
	m.mu.Unlock()
	k := m.locker.keeper
	if old != nil && same && k.update(old, until, start) {
		return
	}
	if old != nil {
		k.end(old, ErrNotHeld)
	}
	if m.opts.keepAlive {
		m.watch(prefix, start, until)
	}
}

// watch starts a lease for the current holding, unless another call
// started one first, and returns it.
func (m *Mutex) watch(prefix string, start, until time.Time) *lease {
	ls := &lease{
		m: m, prefix: prefix, start: start, until: until, extend: m.opts.keepAlive,
		next: start.Add(m.opts.extendEvery()), done: make(chan struct{}), index: -1,
	}
	m.mu.Lock()
	if m.owner != prefix || m.lease != nil {
		cur := m.lease
		m.mu.Unlock()
		return cur
	}
	m.lease = ls
	m.mu.Unlock()
	m.locker.keeper.add(ls)
	return ls
}

// setUntil records an extension confirmed by the keeper.
func (m *Mutex) setUntil(ls *lease, until time.Time) {
	m.mu.Lock()
	if m.lease == ls {
		m.until = until
	}
	m.mu.Unlock()
}

// capped reports whether a lease has reached the keep-alive caps.
func (m *Mutex) capped(ls *lease) bool {
	return (m.opts.maxExtend > 0 && ls.count >= m.opts.maxExtend) ||
		(m.opts.maxHold > 0 && ls.next.Add(m.opts.ttl).After(ls.start.Add(m.opts.maxHold)))
}

var errCapped = errors.New("redlock: keep-alive cap reached")

// lossError is the error of a lease that ended by loss.
func (m *Mutex) lossError(ls *lease, story []error) error {
	errs := append([]error{ErrLockLost}, story...)
	if !ls.extend && m.opts.keepAlive {
		errs = append(errs, errCapped)
	}
	return &opError{name: m.name, errs: errs}
}

// Done returns a channel that is closed when this Mutex's holding of the
// lock ends: when the lock can no longer be proven held (Err then wraps
// ErrLockLost), or at Unlock. For a kept-alive lock (WithKeepAlive) loss is
// noticed when a quorum of nodes answer that the lock is not ours (deleted
// or taken over) or when no extension was confirmed a node timeout before
// the validity ends; without keep-alive, a node timeout before Until().
// Either way the holder hears of it while the validity lasts. Done returns
// a closed channel when the Mutex holds no lock. Call it after acquiring.
func (m *Mutex) Done() <-chan struct{} {
	m.mu.Lock()
	ls, prefix, until := m.lease, m.owner, m.until
	m.mu.Unlock()
	if ls == nil && prefix != "" {
		ls = m.watch(prefix, time.Now(), until)
	}
	if ls == nil {
		return closedChan
	}
	return ls.done
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Err returns nil while the Mutex holds its lock; once Done is closed, the
// reason: an error wrapping ErrLockLost (with the node story) after a loss,
// ErrNotHeld after Unlock or when no lock was held.
func (m *Mutex) Err() error {
	m.mu.Lock()
	ls, prefix := m.lease, m.owner
	m.mu.Unlock()
	if ls == nil {
		if prefix != "" {
			return nil
		}
		return ErrNotHeld
	}
	k := m.locker.keeper
	k.mu.Lock()
	defer k.mu.Unlock()
	return ls.err
}

// onEnd calls fn with the lease's error when the current holding ends, at
// once if it already has. It reports false when no lock is held.
func (m *Mutex) onEnd(fn func(error)) bool {
	m.mu.Lock()
	ls := m.lease
	m.mu.Unlock()
	if ls == nil {
		return false
	}
	k := m.locker.keeper
	k.mu.Lock()
	if ls.ended {
		err := ls.err
		k.mu.Unlock()
		fn(err)
		return true
	}
	ls.onEnd = append(ls.onEnd, fn)
	k.mu.Unlock()
	return true
}

// fail builds the error of a failed operation.
func (m *Mutex) fail(ctx context.Context, sentinel error, story []error) error {
	errs := make([]error, 0, len(story)+2)
	errs = append(errs, sentinel)
	errs = append(errs, story...)
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return &opError{name: m.name, errs: errs}
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
// its policy's delays.
//
// On failure it returns the last round's error, which wraps ErrNotAcquired
// and the per-node story, and also ctx.Err() when ctx ended; nothing the
// rounds wrote is left behind (see TryLock).
func (m *Mutex) Lock(ctx context.Context) error {
	if m.err != nil {
		return m.err
	}
	ch := Channel(m.name)
	var (
		policy backoff.BackOff
		timer  *time.Timer
		w      *waiter
		err    error
	)
	queued := m.locker.behind(ch) // wait for our turn before the first round
	for {
		if !queued {
			if w != nil && w.busy() {
				return m.handedOver(ctx)
			}
			err = m.TryLock(ctx)
			if w != nil {
				w.tried(err == nil)
			}
			if err == nil || !errors.Is(err, ErrNotAcquired) || ctx.Err() != nil {
				return err
			}
		}
		if policy == nil {
			policy = m.opts.retry()
			prefix, perr := m.prefix(ctx)
			if perr != nil {
				return perr
			}
			var live bool
			if w, live = m.locker.wait(ch, m, prefix); w != nil {
				defer w.done()
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
		if w.sleep(ctx, timer.C) {
			return m.handedOver(ctx)
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
// Unlock): it holds the lock, unless ctx has ended meanwhile, in which case
// the caller will not use it and it is released again.
func (m *Mutex) handedOver(ctx context.Context) error {
	if ctx.Err() != nil {
		_ = m.Unlock(context.WithoutCancel(ctx))
		return m.fail(ctx, ErrNotAcquired, nil)
	}
	return nil
}

// Unlock releases the lock on every node where ctx's owner holds it, as
// taken by any acquisition that began before Unlock; a release still in
// flight never removes a later acquisition by the same owner. It
// returns nil when a quorum of nodes released it. Otherwise it returns an
// error that wraps ErrNotHeld, with a NodeError for every node that did not
// release it (not ours there, or failed) and ctx.Err() when ctx ended: the
// lock had lapsed or been taken, or too few nodes answered. Either way this
// Mutex holds no lock afterwards; keys left on nodes that failed expire with
// their TTL.
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
	var (
		ls   *lease
		last *round
	)
	if m.owner == prefix {
		ls, last = m.lease, m.last
		m.owner, m.until, m.lease, m.last, m.fence = "", time.Time{}, nil, nil, 0
	}
	m.mu.Unlock()
	if ls != nil {
		m.locker.keeper.end(ls, ErrNotHeld) // stop keeping it alive before releasing it
	}
	args := []string{prefix, lowestNonce, nonce()}
	var late []bool
	if last != nil {
		// Nodes whose acquire is still in flight are released once it lands.
		late = last.releaseLate(args)
	}
	start := time.Now()
	passed := 0
	if w := m.locker.claim(m, prefix); w != nil {
		// A Lock of this process waits for the lock: hand it over in one
		// round, without letting go of it in between.
		if passed = m.handOver(w, args, late); passed >= m.locker.quorum {
			m.emit(Event{Kind: Released, Nodes: passed, Took: time.Since(start), HandOver: true})
			return nil
		}
	}
	ok, story := m.release(ctx, args, late)
	if ok += passed; ok >= m.locker.quorum {
		m.emit(Event{Kind: Released, Nodes: ok, Took: time.Since(start)})
		return nil
	}
	return m.fail(ctx, ErrNotHeld, story)
}

// handOver passes the lock this Mutex holds for args (the owner prefix and
// nonce range of a release) to waiter w, a Mutex of the same Locker waiting
// in Lock, skipping the nodes in skip. On a quorum within w's validity, w
// holds the lock and learns it at once; otherwise what was passed is
// released again and w goes back to trying. It returns on how many nodes
// the lock was passed (and is no longer ours).
func (m *Mutex) handOver(w *waiter, args []string, skip []bool) int {
	to := w.m
	ctx := context.Background()
	round := nonce()
	start := time.Now()
	r := m.locker.newRound(ctx, m.opts.timeout(), handoverScript, m.keys[:1],
		[]string{w.prefix, round, to.ttlms, args[0], args[1], args[2]})
	r.skip, r.first = skip, m.gate
	r.start()
	ok, _, replies := r.collect()
	validity := to.opts.ttl - time.Since(start) - to.opts.drift()
	if ok >= m.locker.quorum && validity > 0 {
		r.decide("", replies)
		to.acquired(w.prefix, r, start, start.Add(validity), ok, 0, true)
		w.handed <- true
		return ok
	}
	r.drain(replies, min(max(time.Since(start), time.Millisecond), m.opts.timeout()))
	r.decide(round, replies)
	w.handed <- false
	return ok
}

// release runs one release round on the nodes not in skip, and returns how
// many released the lock and the node errors.
func (m *Mutex) release(ctx context.Context, args []string, skip []bool) (int, []error) {
	r := m.locker.newRound(ctx, m.opts.timeout(), releaseScript, m.keys[:1], args)
	r.skip, r.first = skip, m.gate
	r.start()
	ok, story, replies := r.collect()
	r.decide("", replies)
	return ok, story
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
	m.mu.Lock()
	held, until := m.owner == prefix, m.until
	m.mu.Unlock()
	if held && !time.Now().Before(until) {
		return m.fail(ctx, ErrLockLost, nil)
	}
	start := time.Now()
	r := m.locker.newRound(ctx, m.opts.timeout(), extendScript, m.keys[:1], []string{prefix, m.ttlms})
	r.start()
	ok, story, replies := r.collect()
	r.decide("", replies)
	now := time.Now()
	validity := m.opts.ttl - now.Sub(start) - m.opts.drift()
	switch {
	case held && !now.Before(until):
		return m.fail(ctx, ErrLockLost, story)
	case ok >= m.locker.quorum && validity > 0:
		m.held(prefix, start, start.Add(validity))
		m.emit(Event{Kind: Extended, Nodes: ok, Took: now.Sub(start), Until: start.Add(validity)})
		return nil
	case len(story)-countFailed(replies) > len(m.locker.nodes)-m.locker.quorum:
		return m.fail(ctx, ErrNotHeld, story)
	}
	return m.fail(ctx, ErrNotExtended, story)
}

func countFailed(replies []reply) (n int) {
	for _, r := range replies {
		if r.state == failed && r.err != nil {
			n++
		}
	}
	return n
}

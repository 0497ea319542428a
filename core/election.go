package core

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrNoLeader means no campaigner of an election holds a quorum of the
// nodes with a committed term: there is no leader, or too few nodes
// answered to tell.
var ErrNoLeader = errors.New("redlock: no leader")

// ElectionKey returns the Redis key of the election called name:
// Key(name) + ":election". Its fencing counter, whose value is the last
// term, and its release channel are that key with ":fence" and
// ":released" appended. It never equals a key of a Mutex's lock or of a
// semaphore's slot (see SlotKey).
func ElectionKey(name string) string { return Key(name) + ":election" }

// Election is a handle for one named leader election of a Locker, in the
// spirit of etcd's concurrency.Election: campaigners compete, one leads at
// a time, and everyone can read and observe the leader's value. Make it
// with Locker.NewElection. Its methods are safe for concurrent use;
// Campaign and Resign take turns.
//
// Leadership is a fenced, kept-alive lock (WithFencing, WithKeepAlive)
// with keys of its own (ElectionKey), whose metadata (WithMetadata) is
// the leader's value. So at most one campaigner leads within its
// validity, under the assumptions of the package doc; its term, Fence(),
// is the lock's fencing token, which strictly increases from one leader
// to the next; and a leader hears of the loss of its leadership through
// Done while its validity lasts. A campaign needs what a fenced
// acquisition needs: the fence quorum (all of three nodes, four of five)
// unless WithDurableCounters.
type Election struct {
	name   string
	c      *cluster
	t      *target
	opts   options // the Locker's defaults with the Election's options
	pol    *policy // opts resolved, for the Election's own rounds
	err    error   // invalid name or options: every method returns it
	handle string  // the Election's random identity, for granularity.Handle
	turn   chan struct{}

	mu    sync.Mutex
	cur   *Mutex // the lock of the current or last leadership, nil when none
	value string // its value
}

// NewElection returns a handle for the election called name, with opts
// overriding the Locker's defaults. Keep-alive and fencing are always on.
// It does not touch the network. The name follows the rules of NewMutex;
// an invalid name or option does not panic: every method of the returned
// Election then returns that error (Observe closes its channel).
func (l *Locker) NewElection(name string, opts ...Option) *Election {
	e := &Election{name: name, c: l.c, opts: l.opts, handle: newHandle(), turn: make(chan struct{}, 1)}
	e.err = e.opts.apply(append(opts[:len(opts):len(opts)], WithKeepAlive(true), WithFencing()))
	if e.err == nil {
		e.pol, e.err = e.opts.resolve(len(l.c.nodes))
	}
	if err := checkName(name); err != nil {
		e.err = err
	}
	if e.err == nil {
		e.t = l.c.keyedTarget(name, ElectionKey(name))
	}
	return e
}

// Name returns the election's name.
func (e *Election) Name() string { return e.name }

func (e *Election) take(ctx context.Context, sentinel error) error {
	select {
	case e.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return failure(ctx, e.name, sentinel, nil)
	}
}

func (e *Election) give() { <-e.turn }

// current returns the lock of the current or last leadership, and its
// value.
func (e *Election) current() (*Mutex, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cur, e.value
}

// Campaign blocks until this Election leads with value, the string that
// Leader and Observe show everyone (up to MaxMetadata bytes of UTF-8): it
// acquires the election's lock as Mutex.Lock does (woken by releases,
// spaced by the retry policy, until ctx ends), with value as its metadata,
// and keeps it alive from then on. A Campaign of an Election that leads
// already returns nil at once for the same value, and an error for
// another (Resign first).
//
// On failure it returns Lock's error, which wraps ErrNotAcquired and,
// when ctx ended, ctx.Err(); the Election does not lead, and nothing the
// rounds created is left behind.
func (e *Election) Campaign(ctx context.Context, value string) error {
	if e.err != nil {
		return e.err
	}
	if err := e.take(ctx, ErrNotAcquired); err != nil {
		return err
	}
	defer e.give()
	if cur, v := e.current(); cur != nil && cur.Err() == nil {
		if v == value {
			return nil
		}
		return errors.New("redlock: election " + e.name + ": already leading with another value; Resign first")
	}
	o := e.opts
	if err := o.apply([]Option{WithMetadata(value)}); err != nil {
		return err
	}
	pol, err := o.resolve(len(e.c.nodes))
	if err != nil {
		return err
	}
	m := &Mutex{c: e.c, t: e.t, pol: pol, handle: e.handle}
	if err := m.Lock(ctx); err != nil {
		return err
	}
	e.mu.Lock()
	e.cur, e.value = m, value
	e.mu.Unlock()
	return nil
}

// Resign ends this Election's leadership: it releases the election's lock,
// as Mutex.Unlock does, with its errors, so that the next campaigner leads
// at once. Without a leadership it returns an error wrapping ErrNotHeld.
// It waits for a Campaign of the same Election in progress; cancel that
// Campaign's context to stop it.
func (e *Election) Resign(ctx context.Context) error {
	if e.err != nil {
		return e.err
	}
	if err := e.take(ctx, ErrNotReleased); err != nil {
		return err
	}
	defer e.give()
	e.mu.Lock()
	m := e.cur
	e.cur, e.value = nil, ""
	e.mu.Unlock()
	if m == nil {
		return failure(ctx, e.name, ErrNotHeld, nil)
	}
	return m.Unlock(ctx)
}

// Done returns a channel that is closed when this Election's leadership
// ends: when it can no longer be proven held (Err then wraps ErrLockLost),
// or at Resign. It is closed already when the Election does not lead.
// Call it after Campaign: each leadership has a channel of its own.
func (e *Election) Done() <-chan struct{} {
	if m, _ := e.current(); m != nil {
		return m.Done()
	}
	return closedChan
}

// Err returns nil while this Election leads; once the leadership has
// ended, the reason (see Mutex.Err); ErrNotHeld when it did not lead.
func (e *Election) Err() error {
	if m, _ := e.current(); m != nil {
		return m.Err()
	}
	return ErrNotHeld
}

// Fence returns the term of this Election's leadership, or 0 when it does
// not lead. Terms strictly increase from one leader to the next (it is the
// fencing token of the election's lock; see WithFencing): hand it to the
// resources the leader writes to, which must refuse a term lower than the
// highest they have seen.
func (e *Election) Fence() uint64 {
	if m, _ := e.current(); m != nil {
		return m.Fence()
	}
	return 0
}

// Until returns the end of the validity window of this Election's
// leadership (see Mutex.Until), the zero Time when it does not lead.
func (e *Election) Until() time.Time {
	if m, _ := e.current(); m != nil {
		return m.Until()
	}
	return time.Time{}
}

// Leader returns the value of the current leader of the election, read
// from every node (see Locker.InspectElection): the campaigner that holds
// the election's lock on a quorum of the nodes, with its term committed
// on a quorum of them. It is a snapshot: the leader may have changed by
// the time the caller reads it. When no campaigner holds a quorum, or too
// few nodes answered to tell, it returns an error wrapping ErrNoLeader
// (and ErrNoQuorum, with the node errors, in the second case).
func (e *Election) Leader(ctx context.Context) (string, error) {
	if e.err != nil {
		return "", e.err
	}
	info, err := e.inspect(ctx)
	if l, ok := leaderOf(info); ok {
		return l.Value, nil
	}
	if err != nil {
		return "", failure(ctx, e.name, ErrNoLeader, []error{err})
	}
	return "", failure(ctx, e.name, ErrNoLeader, nil)
}

// leaderOf reads the leader out of an inspection of the election's lock:
// the owner that holds a quorum, with a term committed on a quorum of its
// keys. A campaigner that holds a quorum before its term is committed is
// not the leader yet: its Campaign has not returned, and may still fail
// (and may even once its term is committed on a quorum: see Observe).
func leaderOf(info *LockInfo) (Term, bool) {
	if info == nil || !info.Held || info.Token == 0 {
		return Term{}, false
	}
	n := 0
	for _, ni := range info.Nodes {
		if ni.Err == nil && ni.Held && ni.Owner == info.Owner && ni.Metadata == info.Metadata && ni.Token == info.Token {
			n++
		}
	}
	if n < info.Quorum {
		return Term{}, false
	}
	return Term{Value: info.Metadata, Fence: info.Token}, true
}

func (e *Election) inspect(ctx context.Context) (*LockInfo, error) {
	infos, err := inspectLocks(ctx, &e.c.nodeSet, e.pol.nodeTimeout, e.name, []lockRef{{e.name, e.t.lockKey[0]}})
	return infos[0], err
}

// Observe returns a channel that receives the value of each leader of the
// election, once per leadership (a new term, even with the same value), as
// the nodes show it: first the current leader's, if there is one, then
// each new one's. It looks again whenever a node announces a release of
// the election (a Resign) and then quickly until a new leader appears, and
// otherwise about every tenth of the TTL (at most every second), which is
// how a leader that stopped without resigning is seen to be gone once its
// keys expire. A leadership that begins and ends between two looks goes
// unseen. A send waits for the receiver, and Observe does not look again
// until the value is taken: a receiver that falls behind is sent the
// leader of its next look, not every one it missed. The channel is closed
// when ctx ends.
//
// The nodes can show a leader that never was: a campaign round that took
// the lock and committed its term on a quorum of its keys, and then
// failed (the term reached fewer nodes than the fence quorum, or the
// round outlived its validity), shows as that campaigner's leadership
// until the round is undone, a moment later. Observe may report it, while
// that Campaign goes on trying, and may then lead with the same value in
// a later term. ObserveTerms tells the two apart; only Campaign returning
// nil proves a leadership.
func (e *Election) Observe(ctx context.Context) <-chan string {
	return observeAs(ctx, e, func(t Term) string { return t.Value })
}

// Term is one leadership of an election as ObserveTerms reports it: the
// leader's value and its term, the fencing token of its leadership (what
// the leader's Fence returns).
type Term struct {
	Value string
	Fence uint64
}

// ObserveTerms is Observe with each leadership's term: it reports what
// Observe reports, when Observe reports it, with the term that tells one
// leadership from another of the same value, and the one a leader
// announced from a failed round from the campaigner's real leadership
// later (see Observe).
func (e *Election) ObserveTerms(ctx context.Context) <-chan Term {
	return observeAs(ctx, e, func(t Term) Term { return t })
}

// observeAs runs e.observe for a channel of what as makes of each
// leadership, closed when ctx ends (at once for an invalid Election).
func observeAs[T any](ctx context.Context, e *Election, as func(Term) T) <-chan T {
	ch := make(chan T)
	if e.err != nil {
		close(ch)
		return ch
	}
	go func() {
		defer close(ch)
		e.observe(ctx, func(t Term) bool {
			select {
			case ch <- as(t):
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	return ch
}

// observe looks at the election as Observe documents, and calls send with
// each new leadership it sees, until ctx ends or send returns false.
func (e *Election) observe(ctx context.Context, send func(Term) bool) {
	w, _ := watch(&e.c.nodeSet, e.t.waits.ch)
	defer w.stop()
	poll := min(max(e.pol.ttl/10, 5*time.Millisecond), time.Second)
	quick := time.Duration(0) // after a release: the next look's delay, growing to poll
	var last Term
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-w.woken():
			quick = time.Millisecond
		}
		info, _ := e.inspect(ctx)
		delay := poll
		if l, ok := leaderOf(info); ok {
			quick = 0
			if l != last {
				if !send(l) {
					return
				}
				last = l
			}
		} else if quick > 0 {
			delay, quick = quick, min(2*quick, poll)
		}
		timer.Reset(delay)
	}
}

// InspectElection reads the election called name as Inspect reads a lock:
// its holder's Metadata is the value the campaigner campaigns with, its
// Token the term. It returns the errors of Inspect.
func (l *Locker) InspectElection(ctx context.Context, name string) (*LockInfo, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	infos, err := l.inspect(ctx, name, []lockRef{{name, ElectionKey(name)}})
	return infos[0], err
}

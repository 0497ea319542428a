package core

import (
	"errors"
	"fmt"
	"time"

	"github.com/redlock-go/redlock/granularity"
	"github.com/redlock-go/redlock/retry"
)

// Option configures a Locker (as defaults for all its locks) or one Mutex
// (overriding the Locker's defaults for that lock).
type Option func(*options)

type options struct {
	ttl         time.Duration
	retry       retry.Policy
	owner       granularity.Owner
	refresh     bool
	driftFactor float64
	nodeTimeout time.Duration // 0: derived from ttl
	keepAlive   bool
	every       time.Duration // 0: ttl/3
	maxHold     time.Duration // 0: no cap
	maxExtend   int           // 0: no cap
	events      func(Event)   // what the policy calls: eventsFn and observers (see eventsOf)
	eventsFn    func(Event)
	observers   []Observer
	fencing     bool
	durable     bool // fencing counters survive restarts: commit on a bare quorum
	counterTTL  time.Duration
	err         error // the first invalid option
	metadata    string
}

func defaultOptions() options {
	return options{
		ttl:         10 * time.Second,
		retry:       retry.Default(),
		owner:       granularity.Handle(),
		refresh:     true,
		driftFactor: 0.01,
		counterTTL:  DefaultCounterTTL,
	}
}

func (o *options) fail(format string, args ...any) {
	if o.err == nil {
		o.err = fmt.Errorf("redlock: "+format, args...)
	}
}

// apply applies opts, and returns the first invalid one's error.
func (o *options) apply(opts []Option) error {
	for _, opt := range opts {
		if opt == nil {
			o.fail("nil Option")
			continue
		}
		opt(o)
	}
	return o.err
}

// WithTTL sets how long a lock lives on its nodes unless extended or
// released. The default is 10s. It must be at least a millisecond, and
// long enough for the node timeout and the keep-alive period: see
// WithNodeTimeout.
func WithTTL(ttl time.Duration) Option {
	return positive("TTL", ttl, func(o *options) { o.ttl = ttl })
}

// WithRetry sets the policy that spaces the rounds of Mutex.Lock. The
// default is retry.Default(): random delays between 10ms and 100ms, until
// Lock's context ends.
func WithRetry(p retry.Policy) Option {
	return func(o *options) {
		if p == nil {
			o.fail("nil retry.Policy")
			return
		}
		o.retry = p
	}
}

// WithOwner sets who owns a lock. The default is granularity.Handle(): each
// Mutex value is its own owner.
func WithOwner(owner granularity.Owner) Option {
	return func(o *options) {
		if owner == nil {
			o.fail("nil granularity.Owner")
			return
		}
		o.owner = owner
	}
}

// WithRefresh sets whether an owner that already holds a lock may acquire it
// again, which resets its TTL on every node that grants. The default is true.
// With false, the owner is refused like any other contender.
func WithRefresh(refresh bool) Option {
	return func(o *options) { o.refresh = refresh }
}

// WithDriftFactor sets the clock-drift allowance as a fraction of the TTL:
// validity = TTL − elapsed − (TTL × factor + 2ms). The default is 0.01, the
// Redlock reference value. The factor must be in [0, 1).
func WithDriftFactor(factor float64) Option {
	return func(o *options) {
		if !(factor >= 0 && factor < 1) {
			o.fail("drift factor must be in [0, 1), got %v", factor)
			return
		}
		o.driftFactor = factor
	}
}

// WithNodeTimeout bounds each node's answer in one round, so that a dead or
// stopped node costs a round at most this long. (Rounds begun within a
// millisecond of one another share one deadline, so that a round costs no
// timer of its own: a call may be given up to a millisecond more, or a
// sixteenth of the timeout when that is less. Validity counts the time a
// round took, whatever it was.) The default is TTL/20, capped at 500ms. It
// must be positive, and
//
//	node timeout + keep-alive period < TTL − drift
//
// (drift = TTL × drift factor + 2ms; the keep-alive period is TTL/3 unless
// WithKeepAliveEvery says otherwise): a holder is told of a loss a node
// timeout before its validity ends, so a longer timeout would declare a
// lock lost before its first extension is even tried. New and NewMutex
// refuse options that break the rule. A Locker of one node has no other
// node to wait for: its calls are bounded by their context and the
// client's own timeouts, and a late answer leaves no validity.
func WithNodeTimeout(d time.Duration) Option {
	return positive("node timeout", d, func(o *options) { o.nodeTimeout = d })
}

// WithKeepAlive sets whether a held lock is extended automatically, every
// TTL/3 unless WithKeepAliveEvery says otherwise, until Unlock or loss.
// Extensions of many locks are batched per node. The default is false for
// Mutex; Locker.Do always keeps its lock alive. See Mutex.Done for how the
// holder learns of a loss.
func WithKeepAlive(keepAlive bool) Option {
	return func(o *options) { o.keepAlive = keepAlive }
}

// WithKeepAliveEvery sets the keep-alive period. The default is TTL/3. It
// must be positive and leave room for the node timeout (see
// WithNodeTimeout).
func WithKeepAliveEvery(d time.Duration) Option {
	return positive("keep-alive period", d, func(o *options) { o.every = d })
}

// WithMaxHold caps how long a kept-alive lock is extended, counted from its
// acquisition: past the cap the keeper stops extending, and the lock is lost
// when its validity ends. Unbounded extension costs liveness when a holder
// hangs. The default is no cap. It must be positive.
func WithMaxHold(d time.Duration) Option {
	return positive("max hold", d, func(o *options) { o.maxHold = d })
}

// WithMaxExtensions caps the number of automatic extensions of one
// holding, like WithMaxHold. The default is no cap. It must be positive.
func WithMaxExtensions(n int) Option {
	return positive("max extensions", n, func(o *options) { o.maxExtend = n })
}

// WithEvents sets a function called for each Event of the lock of the
// kinds Acquired to Released, from the goroutine that caused it (the
// caller's, the keep-alive goroutine's, or for a lock handed over, the
// Unlock caller's). It must be quick and must not call the Mutex. Given to
// a Mutex, it replaces the Locker's. The default is none. An Observer
// (WithObserver) is told of every kind, with the caller's context.
func WithEvents(fn func(Event)) Option {
	return func(o *options) {
		o.eventsFn = fn
		o.events = eventsOf(o.eventsFn, o.observers)
	}
}

// WithObserver adds o to the Observers of the lock: o is told of every
// Event, with the context of the call that caused it, and of every Lock
// that begins when it is a LockObserver. Given to a Mutex, it adds o to
// the Locker's Observers. The default is none; with neither Observers nor
// an events function, the events cost nothing.
func WithObserver(o Observer) Option {
	return func(opts *options) {
		if o == nil {
			opts.fail("nil Observer")
			return
		}
		opts.observers = append(opts.observers[:len(opts.observers):len(opts.observers)], o)
		opts.events = eventsOf(opts.eventsFn, opts.observers)
	}
}

// WithFencing makes every acquisition also yield a fencing token (see
// Mutex.Fence) that strictly increases across successive holders of the
// lock. It costs one more round trip per acquisition, and a counter key per
// lock name (FenceKey) that expires when the name has not been fenced for
// the counter TTL (WithCounterTTL). The default is off.
//
// A token is one more than the highest counter the acquisition read, or
// the wall clock in microseconds since the Unix epoch, whichever is
// higher. The clock is what keeps tokens increasing once a name's
// counters have expired: the tokens of a name grow by at least one per
// fenced acquisition, and fenced acquisitions are more than a microsecond
// apart, so no token runs ahead of the clock of the process that issued
// it (or of one before it), and a name unused for the counter TTL starts
// again above every token it had. Tokens are thus large numbers (about
// 1.8e15 today, under 2^53, so that they stay exact in a float64 or a
// JSON number), not 1, 2, 3.
//
// A fenced acquisition waits for every node's answer (within the node
// timeout) so as to read all the counters it can, and hands out its token
// only once it is committed on a quorum plus one node (or every node, if
// there are fewer), so that one node that restarts without its data cannot
// make a token repeat. With three nodes, a fenced acquisition thus needs
// all three; with one node, an empty restart cannot be tolerated at all.
// WithDurableCounters trades that tolerance for availability.
//
// A TryLock or Lock by the holder keeps the holding's token when a quorum
// refreshed its keys and found the token on them (with
// WithDurableCounters: every node, for up to five nodes, since a commit
// that arrives late may have marked a key written again after it
// expired); otherwise it takes a new, higher token and the holding before
// ends as lost.
func WithFencing() Option {
	return func(o *options) { o.fencing = true }
}

// WithDurableCounters declares that no node ever loses its fencing
// counters: every node runs with AOF and appendfsync always, and none is
// replaced by one without its data. A fenced acquisition then commits its
// token on a bare quorum, so that it works with as many nodes down as an
// unfenced one. A refresh by the holder then keeps its token only when
// max(quorum, 2*(nodes-quorum)+1) nodes confirm it (see WithFencing). If a
// node does restart empty, a token can repeat. It has
// effect only with WithFencing. The default is off: one empty restart is
// tolerated.
func WithDurableCounters() Option {
	return func(o *options) { o.durable = true }
}

// DefaultCounterTTL is how long a fencing counter outlives the last fenced
// acquisition of its name, unless WithCounterTTL says otherwise.
const DefaultCounterTTL = 24 * time.Hour

// WithCounterTTL sets how long a lock name's fencing counters stay on the
// nodes after its last fenced acquisition (each acquisition sets it
// again): a service that locks per job or per customer keeps about as
// many counters as names it fenced within that time. The default is
// DefaultCounterTTL. It must be at least a second.
//
// Tokens stay increasing after the counters expired as long as the wall
// clocks of the processes that lock a name are less than d apart (see
// WithFencing): keep them synchronised (NTP), and d well above the worst
// difference between them. It has effect only with WithFencing.
func WithCounterTTL(d time.Duration) Option {
	return func(o *options) {
		if d < time.Second {
			o.fail("counter TTL must be at least a second, got %v", d)
			return
		}
		o.counterTTL = d
	}
}

// positive returns an Option that calls set, or records an error when v
// is not positive.
func positive[T int | time.Duration](what string, v T, set func(*options)) Option {
	return func(o *options) {
		if v <= 0 {
			o.fail("%s must be positive, got %v", what, v)
			return
		}
		set(o)
	}
}

var (
	errNoName  = errors.New("redlock: empty lock name")
	errBadName = errors.New(`redlock: a lock name may not begin with "}": its keys would have an empty cluster hash tag and fall in different slots`)
)

// checkName returns the error of a lock name that NewMutex refuses.
func checkName(name string) error {
	switch {
	case name == "":
		return errNoName
	case name[0] == '}':
		return errBadName
	}
	return nil
}

package core

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// EventKind names what happened to a lock.
type EventKind int

// The events of a lock's life. An events function (WithEvents) is given
// the kinds from Acquired to Released; an Observer (WithObserver) is given
// every kind.
const (
	Acquired     EventKind = iota + 1 // a round acquired or refreshed the lock
	Extended                          // an extension was confirmed by a quorum
	ExtendFailed                      // an extension round was not confirmed: the keeper retries within the validity; Extend returns the error
	Lost                              // the lock can no longer be proven held
	Released                          // Unlock released the lock

	NotAcquired   // an acquisition round (TryLock, or one round of Lock) did not acquire the lock
	Waited        // Lock returned: Took is the time it spent, Err nil when it acquired the lock
	ReleaseFailed // Unlock could not confirm the release: Err wraps ErrNotHeld or ErrNotReleased
	Ended         // a Mutex's holding of the lock ended: Took is how long it was held
)

// lockStarting is the Event that carries the start of a Lock to the
// LockObservers (see policy.lockStarted); no listener is given it.
const lockStarting EventKind = -1

func (k EventKind) String() string {
	switch k {
	case Acquired:
		return "acquired"
	case Extended:
		return "extended"
	case ExtendFailed:
		return "extend failed"
	case Lost:
		return "lost"
	case Released:
		return "released"
	case NotAcquired:
		return "not acquired"
	case Waited:
		return "waited"
	case ReleaseFailed:
		return "release failed"
	case Ended:
		return "ended"
	}
	return "unknown"
}

// Event describes one step in a lock's life, for logs, metrics and traces.
type Event struct {
	Kind  EventKind
	Name  string        // the lock's name
	Nodes int           // nodes that went along with the step
	Took  time.Duration // how long the round took (for Waited, the Lock; for Ended, the holding)
	Until time.Time     // end of validity after the step; zero when not held
	Err   error         // the node story of a failure, or why a lock was lost
	// HandOver is set on an Acquired event when a holder on the same Locker
	// handed the lock over (see Mutex.Unlock), and on the holder's Released
	// event when it did.
	HandOver bool

	// Began is set on an Acquired or Extended event that began a holding
	// of the lock by its Mutex, rather than renewing the one it had (an
	// acquisition, a hand-over, or an Extend by a Mutex that held nothing
	// of the owner's lock). Each such holding ends with one Ended event
	// once its end is known: at Unlock, when a loss is noticed, or when an
	// acquisition replaces it; a holding without keep-alive whose validity
	// passes unwatched ends at its Mutex's next Unlock, Err or acquisition.
	Began bool
	// KeepAlive is set on the events of the keep-alive (WithKeepAlive):
	// its extension rounds, and the losses the keeper notices.
	KeepAlive bool
	// Replies has one entry per node, in the Locker's order, for the
	// events of a round (acquisition, hand-over, extension, release): what
	// each node answered. It is nil for the other events, and on the
	// holder's Released of a hand-over (the round's replies are on the
	// waiter's Acquired).
	Replies []NodeReply

	ctx  context.Context  // the call that caused the event; nil: none (the keeper, a holding's end)
	next *context.Context // lockStarting: the context Lock goes on with
}

// NodeReply is what one node answered in the round of an Event.
type NodeReply struct {
	Addr    string // the node's address, from Node.Addr
	Outcome NodeOutcome
	Err     error // a NodeError when the node refused or failed, else nil
}

// NodeOutcome is what one node's answer meant for a round.
type NodeOutcome int

// The outcomes of one node's call in a round.
const (
	NodeUnanswered NodeOutcome = iota // no answer before the round was decided, or not asked (a round that stopped at the lock's gate)
	NodeGranted                       // yes: acquired, extended, released or handed over
	NodeRefreshed                     // an acquisition found the owner's key and refreshed it
	NodeRefused                       // no: held by another owner, or not the owner's
	NodeFailed                        // an error, or no answer within the node timeout (ErrNodeTimeout)
)

func (o NodeOutcome) String() string {
	switch o {
	case NodeUnanswered:
		return "unanswered"
	case NodeGranted:
		return "granted"
	case NodeRefreshed:
		return "refreshed"
	case NodeRefused:
		return "refused"
	case NodeFailed:
		return "failed"
	}
	return "unknown"
}

// An Observer is told of every Event of the locks it observes (see
// WithObserver), with the context of the call that caused it: the
// caller's for TryLock, Lock (and each of its rounds), Unlock and Extend,
// and for the Acquired event of a hand-over, the context of the Unlock
// that handed the lock over. The events that no call of the caller's
// made (the keep-alive's, Ended, and the Lost of a holding that an
// acquisition replaced) come with context.Background(). Observe is called
// from the goroutine that caused the event; it must be quick and must not
// call the Mutex. Observers see Ended before the Released or
// ReleaseFailed of the same Unlock, and the Waited of a Lock after the
// events of its rounds.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// A LockObserver is an Observer that is also told when Mutex.Lock begins,
// for example to open a trace span for the whole wait.
type LockObserver interface {
	Observer
	// StartLock is called as a Lock of the lock called name begins (once
	// its name, options and owner are found valid), with Lock's context,
	// and returns the context that Lock goes on with: its rounds, their
	// calls to the nodes and its Waited event use it. It must return ctx,
	// or a context derived from ctx.
	StartLock(ctx context.Context, name string) context.Context
}

// ObserverFunc is an Observer that is a function.
type ObserverFunc func(ctx context.Context, e Event)

// Observe calls f(ctx, e).
func (f ObserverFunc) Observe(ctx context.Context, e Event) { f(ctx, e) }

// eventsOf returns the events function of a policy whose events function
// is fn and whose Observers are obs: nil when nothing listens, so that
// the events cost nothing then.
func eventsOf(fn func(Event), obs []Observer) func(Event) {
	if len(obs) == 0 && fn == nil {
		return nil
	}
	return func(e Event) {
		if e.Kind == lockStarting {
			ctx := *e.next
			for _, o := range obs {
				if lo, ok := o.(LockObserver); ok {
					ctx = lo.StartLock(ctx, e.Name)
				}
			}
			*e.next = ctx
			return
		}
		if fn != nil && e.Kind >= Acquired && e.Kind <= Released {
			fn(e)
		}
		ctx := e.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		for _, o := range obs {
			o.Observe(ctx, e)
		}
	}
}

// observe emits e for the lock called name, as caused by a call with ctx
// (nil when none did), with the replies of nodes to a round that heard t
// (nil when there was no round). It does nothing, and costs nothing, when
// nothing listens.
func (p *policy) observe(ctx context.Context, name string, e Event, t *tally, nodes []Node) {
	if p.events == nil {
		return
	}
	e.ctx = ctx
	if t != nil {
		e.Replies = nodeReplies(t, nodes)
	}
	p.emit(name, e)
}

// lockStarted tells the LockObservers that a Lock of the lock called name
// begins with ctx, and returns the context the Lock goes on with and when
// it began (the zero Time when nothing listens).
func (p *policy) lockStarted(ctx context.Context, name string) (context.Context, time.Time) {
	if p.events == nil {
		return ctx, time.Time{}
	}
	next := new(context.Context)
	*next = ctx
	p.emit(name, Event{Kind: lockStarting, next: next})
	return *next, time.Now()
}

// waited emits the Waited event of a Lock that began at started, with
// ctx, and returned *err.
func (m *Mutex) waited(ctx context.Context, started time.Time, err *error) {
	if m.pol.events == nil {
		return
	}
	e := Event{Kind: Waited, Took: time.Since(started), Err: *err}
	if *err == nil {
		e.Until = m.Until()
	}
	m.pol.observe(ctx, m.t.name, e, nil, nil)
}

// nodeReplies returns what each of nodes answered in a round that heard t.
func nodeReplies(t *tally, nodes []Node) []NodeReply {
	out := make([]NodeReply, len(nodes))
	for i, n := range nodes {
		out[i].Addr = n.Addr()
		if !t.answered[i] {
			continue
		}
		rep := t.replies[i]
		switch {
		case rep.state == failed && (rep.err == nil || errors.Is(rep.err, errAbandoned)):
			// Decided without its answer, or not sent: unanswered.
		case rep.state == granted:
			out[i].Outcome = NodeGranted
		case rep.state == refreshed:
			out[i].Outcome = NodeRefreshed
		case rep.state == refused:
			out[i].Outcome, out[i].Err = NodeRefused, rep.err
		default:
			out[i].Outcome, out[i].Err = NodeFailed, rep.err
		}
	}
	return out
}

// SlogEvents returns an events function (see WithEvents) that logs each
// Event it is given to logger, with the context of the call that caused
// it: failures and losses at Warn, the rest at Debug. Through WithEvents
// it logs the kinds Acquired to Released; an Observer that calls it
// (ObserverFunc) has it log every kind.
func SlogEvents(logger *slog.Logger) func(Event) {
	return func(e Event) {
		level := slog.LevelDebug
		switch e.Kind {
		case ExtendFailed, Lost, ReleaseFailed:
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{slog.String("lock", e.Name), slog.Int("nodes", e.Nodes), slog.Duration("took", e.Took)}
		if !e.Until.IsZero() {
			attrs = append(attrs, slog.Duration("valid_for", time.Until(e.Until)))
		}
		if e.Err != nil {
			attrs = append(attrs, slog.String("error", e.Err.Error()))
		}
		if e.HandOver {
			attrs = append(attrs, slog.Bool("hand_over", true))
		}
		if e.KeepAlive {
			attrs = append(attrs, slog.Bool("keep_alive", true))
		}
		ctx := e.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		logger.LogAttrs(ctx, level, "redlock: "+e.Kind.String(), attrs...)
	}
}

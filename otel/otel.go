// Package redlockotel reports the locks of package core to OpenTelemetry:
// metrics of acquisitions, waits, holdings, extensions, losses, hand-overs
// and node errors, and a trace span for every operation.
//
// It is a module of its own, so that a program that does not use it has no
// OpenTelemetry in its module graph. Give Instrument to core.New, for every
// lock of the Locker, or to Locker.NewMutex for one lock:
//
//	locker, err := core.New(nodes, redlockotel.Instrument())
//
// Instrument reads the Observer events of core (see core.WithObserver);
// without it, core emits nothing and spends nothing on the events.
//
// # Metrics
//
// Durations are in seconds. Lock names are left out of the metrics, whose
// series would grow with every name, unless WithLockNames says otherwise.
//
//	redlock.lock.acquire.duration  histogram, s     one acquisition round (TryLock, or a round of Lock), by redlock.outcome: acquired, refused, no_quorum, canceled
//	redlock.lock.wait.duration     histogram, s     one Lock, from its call to its return, by redlock.outcome as above
//	redlock.lock.held              up-down counter  holdings of this process: +1 when one begins, -1 when it ends
//	redlock.lock.hold.duration     histogram, s     how long a holding lasted, by redlock.outcome: released, lost
//	redlock.lock.extensions        counter          extension rounds (keep-alive and Extend), by redlock.outcome: ok, failed
//	redlock.lock.lost              counter          holdings that ended lost
//	redlock.lock.handovers         counter          locks that Unlock handed to a waiter of the same Locker
//	redlock.node.errors            counter          node calls that failed, by redlock.node.address and error.type: timeout, connection_refused, noscript, noperm, rejected, other
//
// An outcome "refused" means another owner holds the lock: its refusals
// alone left no quorum, or no node failed; "no_quorum" means failures (or
// a round too slow for any validity) did; "canceled" means the caller's
// context ended.
//
// # Traces
//
// Every Lock is a span, redlock.Lock, opened as Lock begins in the
// caller's trace; each of its rounds is a child span, redlock.TryLock, as
// is a TryLock of the caller's. Unlock, Extend and each keep-alive round
// are spans redlock.Unlock, redlock.Extend and redlock.KeepAlive (a root
// span: the keep-alive runs for no caller), and a hand-over is a span
// redlock.HandOver in the trace of the Unlock that made it. A span of a
// round has one event, redlock.node, per node, with its address and its
// outcome (granted, refreshed, refused, failed, unanswered) and, when it
// failed, the error's type and message. A failed operation's span has
// status Error.
package redlockotel

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/redlock-go/redlock/core"
)

// ScopeName is the instrumentation scope of the meter and the tracer.
const ScopeName = "github.com/redlock-go/redlock/otel"

// Attribute keys of the metrics and spans.
const (
	LockNameKey    = attribute.Key("redlock.lock.name")
	OutcomeKey     = attribute.Key("redlock.outcome")
	NodeAddressKey = attribute.Key("redlock.node.address")
	NodeOutcomeKey = attribute.Key("redlock.node.outcome")
	NodeErrorKey   = attribute.Key("redlock.node.error")
	NodesKey       = attribute.Key("redlock.nodes")
	HandOverKey    = attribute.Key("redlock.handover")
	ErrorTypeKey   = attribute.Key("error.type")
)

// An Option configures Instrument.
type Option func(*config)

type config struct {
	meters  metric.MeterProvider
	tracers trace.TracerProvider
	names   bool
}

// WithMeterProvider sets where the metrics go. The default is the global
// MeterProvider (otel.GetMeterProvider), as it is when Instrument is
// called.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.meters = mp }
}

// WithTracerProvider sets where the spans go. The default is the global
// TracerProvider (otel.GetTracerProvider), as it is when Instrument is
// called.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tracers = tp }
}

// WithLockNames adds the lock's name (redlock.lock.name) to the metrics'
// attributes. The default is off: every lock name makes series of its own,
// which a program with many lock names cannot afford. Spans always carry
// the name.
func WithLockNames() Option {
	return func(c *config) { c.names = true }
}

// Instrument returns a core.Option that reports the locks it is given to
// (a Locker's, or one Mutex's) to OpenTelemetry: the metrics and spans of
// the package doc. It makes its instruments at once: make it once and
// reuse it, and give it to a Locker or to its Mutexes, not to both (each
// would count the same lock). An instrument the MeterProvider cannot make
// is reported to otel.Handle and left out.
func Instrument(opts ...Option) core.Option {
	c := config{}
	for _, opt := range opts {
		opt(&c)
	}
	if c.meters == nil {
		c.meters = otel.GetMeterProvider()
	}
	if c.tracers == nil {
		c.tracers = otel.GetTracerProvider()
	}
	return core.WithObserver(newObserver(c))
}

// observer turns core's events into metrics and spans.
type observer struct {
	tracer trace.Tracer
	names  bool

	acquire    metric.Float64Histogram
	wait       metric.Float64Histogram
	held       metric.Int64UpDownCounter
	hold       metric.Float64Histogram
	extensions metric.Int64Counter
	lost       metric.Int64Counter
	handovers  metric.Int64Counter
	nodeErrors metric.Int64Counter

	outcomes map[string]metric.MeasurementOption // by outcome, without the lock name
	none     metric.MeasurementOption            // no attributes
}

var _ core.LockObserver = (*observer)(nil)

// Bucket boundaries, in seconds: a round on a local network takes well
// under a millisecond, a wait or a holding can last minutes.
var (
	roundBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	waitBuckets  = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}
	holdBuckets  = []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 14400, 86400}
)

// The values of OutcomeKey.
const (
	outcomeAcquired = "acquired"
	outcomeRefused  = "refused"
	outcomeNoQuorum = "no_quorum"
	outcomeCanceled = "canceled"
	outcomeReleased = "released"
	outcomeLost     = "lost"
	outcomeOK       = "ok"
	outcomeFailed   = "failed"
)

func newObserver(c config) *observer {
	meter := c.meters.Meter(ScopeName)
	o := &observer{
		tracer:   c.tracers.Tracer(ScopeName),
		names:    c.names,
		outcomes: map[string]metric.MeasurementOption{},
		none:     metric.WithAttributeSet(attribute.NewSet()),
	}
	for _, outcome := range []string{outcomeAcquired, outcomeRefused, outcomeNoQuorum, outcomeCanceled, outcomeReleased, outcomeLost, outcomeOK, outcomeFailed} {
		o.outcomes[outcome] = metric.WithAttributeSet(attribute.NewSet(OutcomeKey.String(outcome)))
	}
	var errs []error
	made := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	o.acquire, err = meter.Float64Histogram("redlock.lock.acquire.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of one acquisition round, by outcome."), metric.WithExplicitBucketBoundaries(roundBuckets...))
	made(err)
	o.wait, err = meter.Float64Histogram("redlock.lock.wait.duration", metric.WithUnit("s"),
		metric.WithDescription("Time spent in Lock before its outcome."), metric.WithExplicitBucketBoundaries(waitBuckets...))
	made(err)
	o.held, err = meter.Int64UpDownCounter("redlock.lock.held", metric.WithUnit("{lock}"),
		metric.WithDescription("Locks held by this process."))
	made(err)
	o.hold, err = meter.Float64Histogram("redlock.lock.hold.duration", metric.WithUnit("s"),
		metric.WithDescription("How long a holding of a lock lasted, by how it ended."), metric.WithExplicitBucketBoundaries(holdBuckets...))
	made(err)
	o.extensions, err = meter.Int64Counter("redlock.lock.extensions", metric.WithUnit("{extension}"),
		metric.WithDescription("Extension rounds of held locks, by outcome."))
	made(err)
	o.lost, err = meter.Int64Counter("redlock.lock.lost", metric.WithUnit("{lock}"),
		metric.WithDescription("Holdings that ended because the lock could no longer be proven held."))
	made(err)
	o.handovers, err = meter.Int64Counter("redlock.lock.handovers", metric.WithUnit("{handover}"),
		metric.WithDescription("Locks that Unlock handed over to a waiter of the same Locker."))
	made(err)
	o.nodeErrors, err = meter.Int64Counter("redlock.node.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Calls to a node that failed, by node and error type."))
	made(err)
	if err := errors.Join(errs...); err != nil {
		otel.Handle(err)
	}
	return o
}

// attrs returns the measurement option of outcome (none when empty) for
// the lock called name.
func (o *observer) attrs(name, outcome string) metric.MeasurementOption {
	if !o.names {
		if outcome == "" {
			return o.none
		}
		return o.outcomes[outcome]
	}
	if outcome == "" {
		return metric.WithAttributeSet(attribute.NewSet(LockNameKey.String(name)))
	}
	return metric.WithAttributeSet(attribute.NewSet(LockNameKey.String(name), OutcomeKey.String(outcome)))
}

// lockSpan is the context key of the span of a Lock that o opened.
type lockSpan struct{ o *observer }

// StartLock opens the span of a Lock.
func (o *observer) StartLock(ctx context.Context, name string) context.Context {
	ctx, span := o.tracer.Start(ctx, "redlock.Lock", trace.WithAttributes(LockNameKey.String(name)))
	return context.WithValue(ctx, lockSpan{o}, span)
}

// Observe records one event.
func (o *observer) Observe(ctx context.Context, e core.Event) {
	switch e.Kind {
	case core.Acquired:
		if e.Began {
			o.held.Add(ctx, 1, o.attrs(e.Name, ""))
		}
		if e.HandOver {
			o.round(ctx, "redlock.HandOver", e, outcomeAcquired)
			break
		}
		o.acquire.Record(ctx, e.Took.Seconds(), o.attrs(e.Name, outcomeAcquired))
		o.round(ctx, "redlock.TryLock", e, outcomeAcquired)
	case core.NotAcquired:
		outcome := acquisitionOutcome(ctx, e)
		o.acquire.Record(ctx, e.Took.Seconds(), o.attrs(e.Name, outcome))
		o.round(ctx, "redlock.TryLock", e, outcome)
	case core.Waited:
		outcome := outcomeAcquired
		if e.Err != nil {
			outcome = waitOutcome(ctx, e.Err)
		}
		o.wait.Record(ctx, e.Took.Seconds(), o.attrs(e.Name, outcome))
		if span, ok := ctx.Value(lockSpan{o}).(trace.Span); ok {
			span.SetAttributes(OutcomeKey.String(outcome))
			failed(span, e.Err)
			span.End()
		}
	case core.Released:
		if e.HandOver {
			o.handovers.Add(ctx, 1, o.attrs(e.Name, ""))
		}
		o.round(ctx, "redlock.Unlock", e, outcomeReleased)
	case core.ReleaseFailed:
		o.round(ctx, "redlock.Unlock", e, outcomeFailed)
	case core.Extended, core.ExtendFailed:
		outcome := outcomeOK
		if e.Kind == core.ExtendFailed {
			outcome = outcomeFailed
		}
		o.extensions.Add(ctx, 1, o.attrs(e.Name, outcome))
		o.round(ctx, extensionSpan(e), e, outcome)
	case core.Lost:
		if e.Replies != nil { // an extension round that found the lock lost
			o.extensions.Add(ctx, 1, o.attrs(e.Name, outcomeFailed))
			o.round(ctx, extensionSpan(e), e, outcomeLost)
		}
	case core.Ended:
		outcome := outcomeReleased
		if errors.Is(e.Err, core.ErrLockLost) {
			outcome = outcomeLost
			o.lost.Add(ctx, 1, o.attrs(e.Name, ""))
		}
		o.held.Add(ctx, -1, o.attrs(e.Name, ""))
		o.hold.Record(ctx, e.Took.Seconds(), o.attrs(e.Name, outcome))
	}
}

func extensionSpan(e core.Event) string {
	if e.KeepAlive {
		return "redlock.KeepAlive"
	}
	return "redlock.Extend"
}

// round records the node errors of the round of e, and its span called
// name, a child of ctx's span, from when the round began to now, with an
// event per node.
func (o *observer) round(ctx context.Context, name string, e core.Event, outcome string) {
	for _, rep := range e.Replies {
		if rep.Outcome == core.NodeFailed {
			o.nodeErrors.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(
				NodeAddressKey.String(rep.Addr), ErrorTypeKey.String(ErrorType(rep.Err)))))
		}
	}
	end := time.Now()
	_, span := o.tracer.Start(ctx, name, trace.WithTimestamp(end.Add(-e.Took)), trace.WithAttributes(
		LockNameKey.String(e.Name), OutcomeKey.String(outcome), NodesKey.Int(e.Nodes)))
	if e.HandOver {
		span.SetAttributes(HandOverKey.Bool(true))
	}
	for _, rep := range e.Replies {
		attrs := []attribute.KeyValue{NodeAddressKey.String(rep.Addr), NodeOutcomeKey.String(rep.Outcome.String())}
		if rep.Err != nil {
			attrs = append(attrs, NodeErrorKey.String(rep.Err.Error()))
			if rep.Outcome == core.NodeFailed {
				attrs = append(attrs, ErrorTypeKey.String(ErrorType(rep.Err)))
			}
		}
		span.AddEvent("redlock.node", trace.WithTimestamp(end), trace.WithAttributes(attrs...))
	}
	failed(span, e.Err)
	span.End(trace.WithTimestamp(end))
}

// failed sets span's status to Error when err is not nil.
func failed(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
}

// acquisitionOutcome classifies a round that did not acquire (see the
// package doc), from its replies.
func acquisitionOutcome(ctx context.Context, e core.Event) string {
	if ctx.Err() != nil {
		return outcomeCanceled
	}
	refused, failed := 0, 0
	for _, rep := range e.Replies {
		switch rep.Outcome {
		case core.NodeRefused:
			refused++
		case core.NodeFailed:
			failed++
		}
	}
	if quorum := len(e.Replies)/2 + 1; refused > len(e.Replies)-quorum || (refused > 0 && failed == 0) {
		return outcomeRefused
	}
	return outcomeNoQuorum
}

// waitOutcome classifies the error err of a Lock.
func waitOutcome(ctx context.Context, err error) string {
	switch {
	case ctx.Err() != nil:
		return outcomeCanceled
	case errors.Is(err, core.ErrHeldByOther):
		return outcomeRefused
	}
	return outcomeNoQuorum
}

// ErrorType returns the class of a node's error, as redlock.node.errors
// and the spans give it in error.type: "timeout" (core.ErrNodeTimeout, or
// a deadline or network timeout), "connection_refused" (the node could not
// be dialled), "noscript", "noperm", "rejected" (another reply of
// core.ErrNodeRejected: NOAUTH, WRONGPASS, CROSSSLOT, WRONGTYPE, ...), or
// "other".
func ErrorType(err error) string {
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.Is(err, core.ErrNodeTimeout), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &op) && op.Op == "dial":
		return "connection_refused"
	case replyCode(err, "NOSCRIPT"):
		return "noscript"
	case replyCode(err, "NOPERM"):
		return "noperm"
	case errors.Is(err, core.ErrNodeRejected):
		return "rejected"
	}
	return "other"
}

// replyCode reports whether err, or an error it wraps, is an error reply
// with the given code.
func replyCode(err error, code string) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if msg := err.Error(); strings.HasPrefix(msg, code) && (len(msg) == len(code) || msg[len(code)] == ' ') {
			return true
		}
	}
	return false
}

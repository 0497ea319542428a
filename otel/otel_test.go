package redlockotel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/internal/testnode"
	redlockotel "github.com/redlock-go/redlock/otel"
	"github.com/redlock-go/redlock/retry"
)

// otelFixture is a conformance fixture of real servers with an SDK that
// keeps what it is given: a ManualReader for the metrics and a
// SpanRecorder for the spans, and the Instrument option that reports to
// them.
type otelFixture struct {
	*conformance.Fixture
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	mp     *sdkmetric.MeterProvider
	option core.Option
}

func newOtelFixture(t *testing.T, servers int, opts ...redlockotel.Option) *otelFixture {
	t.Helper()
	f := &otelFixture{
		Fixture: conformance.NewFixture(t, testnode.Harness, servers),
		reader:  sdkmetric.NewManualReader(),
		spans:   tracetest.NewSpanRecorder(),
	}
	f.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.reader))
	f.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(f.spans))
	f.option = redlockotel.Instrument(append([]redlockotel.Option{
		redlockotel.WithMeterProvider(f.mp), redlockotel.WithTracerProvider(f.tp),
	}, opts...)...)
	return f
}

// metrics collects what the reader holds, by metric name.
func (f *otelFixture) metrics() map[string]metricdata.Metrics {
	f.T.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(f.T, f.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// count returns the value of the counter called name with exactly attrs:
// its sum, or for a histogram, how many values it recorded.
func (f *otelFixture) count(name string, attrs ...attribute.KeyValue) int64 {
	f.T.Helper()
	m, ok := f.metrics()[name]
	if !ok {
		return 0
	}
	want := attribute.NewSet(attrs...)
	switch data := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range data.DataPoints {
			if dp.Attributes.Equals(&want) {
				return dp.Value
			}
		}
	case metricdata.Histogram[float64]:
		for _, dp := range data.DataPoints {
			if dp.Attributes.Equals(&want) {
				return int64(dp.Count)
			}
		}
	default:
		f.T.Fatalf("metric %s is a %T", name, m.Data)
	}
	return 0
}

// histogram returns the data point of the histogram called name with
// exactly attrs.
func (f *otelFixture) histogram(name string, attrs ...attribute.KeyValue) metricdata.HistogramDataPoint[float64] {
	f.T.Helper()
	m, ok := f.metrics()[name]
	require.True(f.T, ok, "no metric %s", name)
	want := attribute.NewSet(attrs...)
	for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
		if dp.Attributes.Equals(&want) {
			return dp
		}
	}
	f.T.Fatalf("no data point of %s with %v", name, attrs)
	return metricdata.HistogramDataPoint[float64]{}
}

// eventually waits for cond, checking the metrics or spans again.
func (f *otelFixture) eventually(cond func() bool, msg string) {
	f.T.Helper()
	require.Eventually(f.T, cond, 10*time.Second, 5*time.Millisecond, msg)
}

// ended returns the ended spans called name.
func (f *otelFixture) ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range f.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func outcome(v string) attribute.KeyValue { return redlockotel.OutcomeKey.String(v) }

// attr returns the value of key among attrs, and whether it is there.
func attr(attrs []attribute.KeyValue, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range attrs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// nodeOutcomes returns the node events of span: outcome by address.
func nodeOutcomes(t *testing.T, span sdktrace.ReadOnlySpan) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, ev := range span.Events() {
		require.Equal(t, "redlock.node", ev.Name)
		addr, ok := attr(ev.Attributes, redlockotel.NodeAddressKey)
		require.True(t, ok, "a node event without an address")
		o, ok := attr(ev.Attributes, redlockotel.NodeOutcomeKey)
		require.True(t, ok, "a node event without an outcome")
		out[addr.AsString()] = o.AsString()
	}
	return out
}

// granted counts the nodes of outcomes that granted.
func granted(outcomes map[string]string) int {
	n := 0
	for _, o := range outcomes {
		if o == "granted" {
			n++
		}
	}
	return n
}

// An uncontended Lock and Unlock: one acquisition round and one wait,
// both acquired, a holding that begins and ends released, and spans for
// Lock, its round and Unlock in the caller's trace, with every node's
// answer. No node failed.
func TestAcquireAndRelease(t *testing.T) {
	f := newOtelFixture(t, 3)
	l := f.Locker(f.option)
	ctx, caller := f.tp.Tracer("test").Start(f.Ctx, "caller")
	m := l.NewMutex("report")
	require.NoError(t, m.Lock(ctx))
	assert.EqualValues(t, 1, f.count("redlock.lock.held"))
	assert.EqualValues(t, 1, f.count("redlock.lock.acquire.duration", outcome("acquired")))
	assert.EqualValues(t, 1, f.count("redlock.lock.wait.duration", outcome("acquired")))
	require.NoError(t, m.Unlock(ctx))
	caller.End()
	f.settle(l)

	assert.EqualValues(t, 0, f.count("redlock.lock.held"))
	hold := f.histogram("redlock.lock.hold.duration", outcome("released"))
	assert.EqualValues(t, 1, hold.Count)
	assert.Greater(t, hold.Sum, 0.0)
	acquire := f.histogram("redlock.lock.acquire.duration", outcome("acquired"))
	assert.Greater(t, acquire.Sum, 0.0)
	assert.Less(t, acquire.Sum, 1.0, "seconds")
	ms := f.metrics()
	for _, name := range []string{"redlock.lock.acquire.duration", "redlock.lock.wait.duration", "redlock.lock.hold.duration"} {
		assert.Equal(t, "s", ms[name].Unit, name)
	}
	assert.Zero(t, f.count("redlock.lock.lost"))
	if m, ok := ms["redlock.node.errors"]; ok {
		assert.Empty(t, m.Data.(metricdata.Sum[int64]).DataPoints, "node errors")
	}

	lock := f.ended("redlock.Lock")
	require.Len(t, lock, 1)
	assert.Equal(t, caller.SpanContext().SpanID(), lock[0].Parent().SpanID(), "Lock's span is the caller's child")
	assert.Equal(t, codes.Unset, lock[0].Status().Code)
	name, _ := attr(lock[0].Attributes(), redlockotel.LockNameKey)
	assert.Equal(t, "report", name.AsString())
	rounds := f.ended("redlock.TryLock")
	require.Len(t, rounds, 1)
	assert.Equal(t, lock[0].SpanContext().SpanID(), rounds[0].Parent().SpanID(), "the round is Lock's child")
	outcomes := nodeOutcomes(t, rounds[0])
	assert.Len(t, outcomes, 3)
	assert.GreaterOrEqual(t, granted(outcomes), 2)
	for _, n := range f.Nodes {
		assert.Contains(t, outcomes, n.Addr())
	}
	assert.False(t, rounds[0].StartTime().Before(lock[0].StartTime()), "the round began within Lock")
	assert.False(t, rounds[0].EndTime().After(lock[0].EndTime()), "the round ended within Lock")
	unlock := f.ended("redlock.Unlock")
	require.Len(t, unlock, 1)
	assert.Equal(t, caller.SpanContext().SpanID(), unlock[0].Parent().SpanID())
	assert.GreaterOrEqual(t, granted(nodeOutcomes(t, unlock[0])), 2)
}

// Contention: a TryLock refused by the holder, a Lock whose policy gives
// up, and a Lock whose context ends, each with its outcome and a span
// with status Error; the refusing nodes say so in the round's span.
func TestContention(t *testing.T) {
	f := newOtelFixture(t, 3)
	l := f.Locker(f.option)
	holder := l.NewMutex("busy")
	require.NoError(t, holder.TryLock(f.Ctx))
	f.WaitPTTLAbove("busy", 0)

	err := f.Locker(f.option).NewMutex("busy").TryLock(f.Ctx) // another process's contender: the nodes refuse it
	require.ErrorIs(t, err, core.ErrNotAcquired)
	assert.EqualValues(t, 1, f.count("redlock.lock.acquire.duration", outcome("refused")))
	rounds := f.ended("redlock.TryLock")
	require.Len(t, rounds, 2)
	refused := rounds[1]
	assert.Equal(t, codes.Error, refused.Status().Code)
	o, _ := attr(refused.Attributes(), redlockotel.OutcomeKey)
	assert.Equal(t, "refused", o.AsString())
	assert.Contains(t, nodeOutcomes(t, refused), f.Nodes[0].Addr())
	n := 0
	for _, o := range nodeOutcomes(t, refused) {
		if o == "refused" {
			n++
		}
	}
	assert.GreaterOrEqual(t, n, 1, "the holder's nodes refused")

	gives := l.NewMutex("busy", core.WithRetry(retry.Constant(time.Millisecond, 2)))
	require.ErrorIs(t, gives.Lock(f.Ctx), core.ErrNotAcquired)
	assert.EqualValues(t, 1, f.count("redlock.lock.wait.duration", outcome("refused")))
	lock := f.ended("redlock.Lock")
	require.Len(t, lock, 1)
	var children int64
	for _, s := range f.ended("redlock.TryLock") {
		if s.Parent().SpanID() == lock[0].SpanContext().SpanID() {
			children++
		}
	}
	assert.GreaterOrEqual(t, children, int64(1))
	assert.Equal(t, 1+children, f.count("redlock.lock.acquire.duration", outcome("refused")), "each round of Lock is counted and is Lock's child")

	ctx, cancel := context.WithTimeout(f.Ctx, 50*time.Millisecond)
	defer cancel()
	deadline, _ := ctx.Deadline()
	left := time.Until(deadline)
	err = l.NewMutex("busy").Lock(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.EqualValues(t, 1, f.count("redlock.lock.wait.duration", outcome("canceled")))
	wait := f.histogram("redlock.lock.wait.duration", outcome("canceled"))
	assert.GreaterOrEqual(t, wait.Sum, left.Seconds()/2, "Lock waited for its context")
	locks := f.ended("redlock.Lock")
	require.Len(t, locks, 2)
	for _, s := range locks {
		assert.Equal(t, codes.Error, s.Status().Code)
	}

	assert.EqualValues(t, 1, f.count("redlock.lock.held"), "only the holder holds it")
	require.NoError(t, holder.Unlock(f.Ctx))
	assert.EqualValues(t, 0, f.count("redlock.lock.held"))
	f.settle(l)
}

func (f *otelFixture) settle(l *core.Locker) {
	f.T.Helper()
	require.NoError(f.T, l.Wait(f.Ctx))
}

// Keep-alive: every extension round is counted ok and is a root span with
// each node's answer; then the keys are deleted on every node, the next
// round finds the lock lost, and the holding ends lost.
func TestKeepAliveAndLoss(t *testing.T) {
	f := newOtelFixture(t, 3)
	const ttl = 600 * time.Millisecond
	l := f.Locker(f.option, core.WithTTL(ttl), core.WithNodeTimeout(100*time.Millisecond))
	m := l.NewMutex("kept", core.WithKeepAlive(true))
	require.NoError(t, m.Lock(f.Ctx))
	f.eventually(func() bool { return f.count("redlock.lock.extensions", outcome("ok")) >= 3 }, "three extensions")
	keep := f.ended("redlock.KeepAlive")
	require.NotEmpty(t, keep)
	assert.False(t, keep[0].Parent().IsValid(), "a keep-alive round is a root span")
	assert.GreaterOrEqual(t, granted(nodeOutcomes(t, keep[0])), 2, "a quorum confirmed")
	assert.EqualValues(t, 1, f.count("redlock.lock.held"))

	done := m.Done()
	f.OnAll("DEL", core.Key("kept"))
	select {
	case <-done:
	case <-f.Ctx.Done():
		t.Fatal("the loss was not noticed")
	}
	require.ErrorIs(t, m.Err(), core.ErrLockLost)
	f.eventually(func() bool { return f.count("redlock.lock.lost") == 1 }, "one loss")
	assert.EqualValues(t, 0, f.count("redlock.lock.held"))
	assert.EqualValues(t, 1, f.count("redlock.lock.hold.duration", outcome("lost")))
	assert.GreaterOrEqual(t, f.histogram("redlock.lock.hold.duration", outcome("lost")).Sum, ttl.Seconds(), "held past a TTL")
	assert.GreaterOrEqual(t, f.count("redlock.lock.extensions", outcome("failed")), int64(1), "the round that found it lost")
	var lost sdktrace.ReadOnlySpan
	for _, s := range f.ended("redlock.KeepAlive") {
		if o, _ := attr(s.Attributes(), redlockotel.OutcomeKey); o.AsString() == "lost" {
			lost = s
		}
	}
	require.NotNil(t, lost, "no keep-alive span of the loss")
	assert.Equal(t, codes.Error, lost.Status().Code)
	n := 0
	for addr, o := range nodeOutcomes(t, lost) {
		assert.NotEqual(t, "granted", o, addr)
		if o == "refused" {
			n++
		}
	}
	assert.GreaterOrEqual(t, n, 2, "a quorum said the lock is not ours")
	require.ErrorIs(t, m.Unlock(f.Ctx), core.ErrNotHeld)
	assert.NotEmpty(t, f.ended("redlock.Unlock"), "a failed Unlock is a span too")
	assert.EqualValues(t, 0, f.count("redlock.lock.held"), "a holding ends once")
	f.settle(l)
}

// A holder that unlocks while a Lock of its Locker waits hands the lock
// over: one hand-over, the holding passes from one Mutex to the other,
// and the hand-over round is a span in the trace of the Unlock. Only the
// Mutexes given Instrument report.
func TestHandOver(t *testing.T) {
	f := newOtelFixture(t, 3)
	l := f.Locker() // the Mutexes below are instrumented, not the Locker
	f.Listening(l)
	holder := l.NewMutex("passed", f.option)
	require.NoError(t, holder.TryLock(f.Ctx))
	f.eventually(func() bool { return len(f.Holders("passed")) == 3 }, "held on every node")
	asleep := make(chan struct{}, 1)
	waiter := l.NewMutex("passed", f.option, conformance.AsleepPolicy(asleep))
	acquired := make(chan error, 1)
	go func() { acquired <- waiter.Lock(f.Ctx) }()
	<-asleep

	ctx, caller := f.tp.Tracer("test").Start(f.Ctx, "caller")
	require.NoError(t, holder.Unlock(ctx))
	caller.End()
	select {
	case err := <-acquired:
		require.NoError(t, err)
	case <-f.Ctx.Done():
		t.Fatal("the waiter was not handed the lock")
	}
	assert.EqualValues(t, 1, f.count("redlock.lock.handovers"))
	f.eventually(func() bool { return f.count("redlock.lock.hold.duration", outcome("released")) == 1 }, "the holder's holding ended")
	assert.EqualValues(t, 1, f.count("redlock.lock.held"), "the waiter holds it")
	assert.EqualValues(t, 1, f.count("redlock.lock.wait.duration", outcome("acquired")))
	handOver := f.ended("redlock.HandOver")
	require.Len(t, handOver, 1)
	assert.Equal(t, caller.SpanContext().TraceID(), handOver[0].SpanContext().TraceID(), "in the Unlock's trace")
	assert.GreaterOrEqual(t, granted(nodeOutcomes(t, handOver[0])), 2)
	unlock := f.ended("redlock.Unlock")
	require.Len(t, unlock, 1)
	h, _ := attr(unlock[0].Attributes(), redlockotel.HandOverKey)
	assert.True(t, h.AsBool(), "the Unlock handed over")

	require.NoError(t, waiter.Unlock(f.Ctx))
	assert.EqualValues(t, 0, f.count("redlock.lock.held"))
	for _, s := range f.spans.Ended() {
		if name, ok := attr(s.Attributes(), redlockotel.LockNameKey); ok {
			assert.Equal(t, "passed", name.AsString(), "the Locker's other lock is not instrumented")
		}
	}
	f.settle(l)
}

// A node that is down: its failures are counted by address and type,
// and its node events in the spans say failed, while the other two
// nodes grant.
func TestNodeDown(t *testing.T) {
	f := newOtelFixture(t, 3)
	l := f.Locker(f.option)
	down := f.Nodes[1].Addr()
	f.Servers[1].Kill()
	m := l.NewMutex("degraded")
	require.NoError(t, m.TryLock(f.Ctx))
	require.NoError(t, m.Extend(f.Ctx))
	require.NoError(t, m.Unlock(f.Ctx))
	f.settle(l)

	refused := []attribute.KeyValue{redlockotel.NodeAddressKey.String(down), redlockotel.ErrorTypeKey.String("connection_refused")}
	assert.EqualValues(t, 3, f.count("redlock.node.errors", refused...), "acquire, extend and release")
	assert.EqualValues(t, 1, f.count("redlock.lock.extensions", outcome("ok")))
	for _, name := range []string{"redlock.TryLock", "redlock.Extend"} {
		spans := f.ended(name)
		require.Len(t, spans, 1, name)
		outcomes := nodeOutcomes(t, spans[0])
		assert.Equal(t, "failed", outcomes[down], name)
		assert.Equal(t, 2, granted(outcomes), name)
		for _, ev := range spans[0].Events() {
			if addr, _ := attr(ev.Attributes, redlockotel.NodeAddressKey); addr.AsString() == down {
				typ, _ := attr(ev.Attributes, redlockotel.ErrorTypeKey)
				assert.Equal(t, "connection_refused", typ.AsString())
			}
		}
	}
}

// WithLockNames puts the lock's name in the metrics' attributes.
func TestLockNames(t *testing.T) {
	f := newOtelFixture(t, 1, redlockotel.WithLockNames())
	l := f.Locker(f.option)
	m := l.NewMutex("named")
	require.NoError(t, m.TryLock(f.Ctx))
	named := redlockotel.LockNameKey.String("named")
	assert.EqualValues(t, 1, f.count("redlock.lock.held", named))
	assert.EqualValues(t, 1, f.count("redlock.lock.acquire.duration", named, outcome("acquired")))
	require.NoError(t, m.Unlock(f.Ctx))
	assert.EqualValues(t, 1, f.count("redlock.lock.hold.duration", named, outcome("released")))
}

// ErrorType names the classes of node errors.
func TestErrorType(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&core.NodeError{Addr: "a", Err: core.ErrNodeTimeout}, "timeout"},
		{&core.NodeError{Addr: "a", Err: context.DeadlineExceeded}, "timeout"},
		{&core.NodeError{Addr: "a", Err: conformance.RedisError("NOSCRIPT No matching script")}, "noscript"},
		{&core.NodeError{Addr: "a", Err: conformance.RedisError("NOPERM User lock has no permissions to run the 'evalsha' command")}, "noperm"},
		{&core.NodeError{Addr: "a", Err: conformance.RedisError("CROSSSLOT Keys in request don't hash to the same slot")}, "rejected"},
		{&core.NodeError{Addr: "a", Err: conformance.RedisError("LOADING Redis is loading the dataset in memory")}, "other"},
		{&core.NodeError{Addr: "a", Err: errors.New("boom")}, "other"},
	} {
		assert.Equal(t, tc.want, redlockotel.ErrorType(tc.err), "%v", tc.err)
	}
}

// Without the option nothing is recorded, even with the SDK installed as
// the global providers, and an acquisition and release allocate only
// what they do without any listener: less than with the option.
func TestWithoutOption(t *testing.T) {
	f := newOtelFixture(t, 3)
	mp, tp := otel.GetMeterProvider(), otel.GetTracerProvider()
	otel.SetMeterProvider(f.mp)
	otel.SetTracerProvider(f.tp)
	t.Cleanup(func() {
		otel.SetMeterProvider(mp)
		otel.SetTracerProvider(tp)
	})
	ctx := f.Ctx
	bare := f.Locker()
	op := func(l *core.Locker, name string) func() {
		m := l.NewMutex(name)
		return func() {
			require.NoError(t, m.Lock(ctx))
			require.NoError(t, m.Unlock(ctx))
			require.NoError(t, l.Wait(ctx))
		}
	}
	plain := op(bare, "plain")
	plain()
	without := testing.AllocsPerRun(200, plain)
	assert.Empty(t, f.metrics(), "metrics without the option")
	assert.Empty(t, f.spans.Ended(), "spans without the option")

	with := testing.AllocsPerRun(200, op(f.Locker(redlockotel.Instrument()), "instrumented"))
	t.Logf("allocations per Lock and Unlock: %v without the option, %v with it", without, with)
	assert.Less(t, without, with)
	assert.NotEmpty(t, f.metrics(), "the global providers, with the option")
}

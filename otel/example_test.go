package redlockotel_test

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/redlock-go/redlock/core"
	redlockotel "github.com/redlock-go/redlock/otel"
)

// The metrics and spans of a Locker, printed as JSON by the stdout
// exporters (in production, an OTLP exporter or a Prometheus reader take
// their place): one line per span as it ends, and the metrics at
// shutdown. The nodes come from any adapter: goredis.NewNode(client),
// redigo.NewNodeAddr(pool, addr), rueidis.NewNode(client).
func Example() {
	ctx := context.Background()
	spans, err := stdouttrace.New()
	if err != nil {
		panic(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(ctx)
	metrics, err := stdoutmetric.New()
	if err != nil {
		panic(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metrics)))

	nodes := exampleNodes()
	locker, err := core.New(nodes, redlockotel.Instrument(
		redlockotel.WithMeterProvider(mp), redlockotel.WithTracerProvider(tp)))
	if err != nil {
		panic(err)
	}
	mutex := locker.NewMutex("nightly-report")
	if err := mutex.Lock(ctx); err != nil { // spans redlock.Lock and its round, redlock.TryLock
		panic(err)
	}
	err = locker.NewMutex("nightly-report").TryLock(ctx) // redlock.lock.acquire.duration, outcome refused
	if !errors.Is(err, core.ErrNotAcquired) {
		panic(err)
	}
	if err := mutex.Unlock(ctx); err != nil { // redlock.lock.hold.duration, outcome released
		panic(err)
	}
	if err := locker.Wait(ctx); err != nil {
		panic(err)
	}
	// Shutdown exports the metrics not exported yet, at exit.
	if err := mp.Shutdown(ctx); err != nil {
		panic(err)
	}
}

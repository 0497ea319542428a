// Command example tells a short story of locks on three redis-servers it
// starts (redis-server must be on PATH), instrumented with redlockotel,
// and prints the metrics recorded, one line per series. With -json it
// prints them as the stdout exporter writes them instead, and the spans
// too.
//
// The story: three workers compete for one lock; the first gets it, the
// third gives up, and the first hands the lock to the second as it
// unlocks; a node dies and the lock holds; the lock's keys are deleted
// and its holder is told that it lost it.
//
//	go run ./example
//
// It uses the test Node of this repository, so that this module needs no
// Redis client; a program uses an adapter's (goredis.NewNode(client),
// redigo.NewNodeAddr(pool, addr), rueidis.NewNode(client)).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/internal/testnode"
	redlockotel "github.com/redlock-go/redlock/otel"
	"github.com/redlock-go/redlock/retry"
)

func main() {
	asJSON := flag.Bool("json", false, "print the metrics and spans as the stdout exporters write them")
	flag.Parse()
	var servers []*conformance.Server
	defer func() {
		for _, s := range servers {
			s.Stop()
		}
	}()
	for range 3 {
		s, err := conformance.Start()
		if err != nil {
			fmt.Fprintln(os.Stderr, "example:", err)
			os.Exit(1)
		}
		servers = append(servers, s)
	}
	if err := run(os.Stdout, servers, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

const ttl = 500 * time.Millisecond

// run tells the story on servers, writing it and then the metrics to w.
func run(w io.Writer, servers []*conformance.Server, asJSON bool) error {
	w = &lockedWriter{w: w} // the story's lines and the spans come from several goroutines
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	var tp trace.TracerProvider = noop.NewTracerProvider()
	if asJSON {
		spans, err := stdouttrace.New(stdouttrace.WithWriter(w))
		if err != nil {
			return err
		}
		sdk := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
		defer sdk.Shutdown(ctx)
		tp = sdk
	}
	var nodes []core.Node
	for _, s := range servers {
		n := testnode.New(s.Addr)
		defer n.Close()
		nodes = append(nodes, n)
	}
	locker, err := core.New(nodes, core.WithTTL(ttl),
		redlockotel.Instrument(redlockotel.WithMeterProvider(mp), redlockotel.WithTracerProvider(tp)))
	if err != nil {
		return err
	}
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }

	// Three workers want "nightly". The first gets it; the second waits
	// for it as long as it takes; the third tries for about 600ms and
	// gives up. Then the first is done, and its Unlock hands the lock to
	// the second, which keeps it alive until it is told it lost it.
	var wg sync.WaitGroup
	held1, queued2, held2, gaveUp3 := make(chan struct{}), make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	wg.Add(3)
	go func() {
		defer wg.Done()
		err := locker.Do(ctx, "nightly", func(ctx context.Context) error {
			say("worker-1 holds nightly")
			close(held1)
			<-gaveUp3
			return nil
		})
		say("worker-1 is done (%v) and unlocks", err)
	}()
	<-held1
	go func() {
		defer wg.Done()
		err := locker.Do(ctx, "nightly", func(ctx context.Context) error {
			say("worker-2 holds nightly")
			close(held2)
			<-ctx.Done()
			return context.Cause(ctx)
		}, conformance.QueuedPolicy(queued2)) // waits for a release or a hand-over, without polling
		say("worker-2 is told it lost nightly: %v", errors.Is(err, core.ErrLockLost))
	}()
	<-queued2
	go func() {
		defer wg.Done()
		defer close(gaveUp3)
		err := locker.NewMutex("nightly", core.WithRetry(retry.Constant(100*time.Millisecond, 6))).Lock(ctx)
		say("worker-3 gives up: %v", errors.Is(err, core.ErrNotAcquired))
	}()
	<-held2
	time.Sleep(2 * ttl) // the story's pace: a few extensions
	say("server 3 dies")
	servers[2].Kill()
	time.Sleep(2 * ttl)
	say("the keys of nightly are deleted on the servers still up")
	for _, s := range servers[:2] {
		if _, err := s.Do("DEL", core.Key("nightly")); err != nil {
			return err
		}
	}
	wg.Wait()
	if err := locker.Wait(ctx); err != nil {
		return err
	}

	say("")
	if asJSON {
		exp, err := stdoutmetric.New(stdoutmetric.WithWriter(w))
		if err != nil {
			return err
		}
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			return err
		}
		return exp.Export(ctx, &rm)
	}
	return printMetrics(ctx, w, reader)
}

// printMetrics writes one line per series that reader collects: the
// metric, its attributes and its value (for a histogram, the count and
// the sum).
func printMetrics(ctx context.Context, w io.Writer, reader sdkmetric.Reader) error {
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		return err
	}
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range data.DataPoints {
					lines = append(lines, fmt.Sprintf("%-30s %-70s %d", m.Name, attrs(dp.Attributes), dp.Value))
				}
			case metricdata.Histogram[float64]:
				for _, dp := range data.DataPoints {
					lines = append(lines, fmt.Sprintf("%-30s %-70s count=%d sum=%.4f%s", m.Name, attrs(dp.Attributes), dp.Count, dp.Sum, m.Unit))
				}
			}
		}
	}
	slices.Sort(lines)
	_, err := fmt.Fprintln(w, strings.Join(lines, "\n"))
	return err
}

func attrs(set attribute.Set) string {
	var kvs []string
	for _, kv := range set.ToSlice() {
		kvs = append(kvs, string(kv.Key)+"="+kv.Value.Emit())
	}
	return "{" + strings.Join(kvs, ",") + "}"
}

// lockedWriter is a Writer that several goroutines may write to.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

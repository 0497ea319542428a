package core

import (
	"context"
	"sync"
)

// Batcher is an optional interface of a Node: sending many script calls in
// one round trip (a pipeline). Core uses it to extend many kept-alive locks
// at once. A Node without it gets the calls one by one, a few at a time.
//
// EvalBatch runs every call and fills in its Reply and Err, with the
// meaning and normalisation of Node.Eval, including the fallback from
// EVALSHA to EVAL on NOSCRIPT. ctx bounds the whole batch. A call whose
// outcome is unknown gets an error.
type Batcher interface {
	EvalBatch(ctx context.Context, calls []Call)
}

// Call is one script call of a batch.
type Call struct {
	Script     *Script
	Keys, Args []string
	Reply      any   // set by EvalBatch
	Err        error // set by EvalBatch
}

// batchParallelism bounds the calls in flight to one Node without Batcher.
const batchParallelism = 8

// evalBatch runs calls on n, pipelined when n is a Batcher.
func evalBatch(ctx context.Context, n Node, calls []Call) {
	if b, ok := n.(Batcher); ok {
		b.EvalBatch(ctx, calls)
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(batchParallelism, len(calls)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c := &calls[i]
				c.Reply, c.Err = n.Eval(ctx, c.Script, c.Keys, c.Args)
			}
		}()
	}
	for i := range calls {
		next <- i
	}
	close(next)
	wg.Wait()
}

// Package retry holds the policies that space the rounds of core.Mutex.Lock.
//
// A Policy is a factory: every Lock call asks it for a fresh
// backoff.BackOff, so policies carry no state between calls and one Policy
// can be shared by every Mutex. The strategies themselves are those of
// github.com/cenkalti/backoff/v4; any func() backoff.BackOff is a Policy as
// it is.
//
// Lock stops when the BackOff returns backoff.Stop or when its context ends,
// whichever comes first.
package retry

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Policy returns fresh backoff state for one Lock call. The delay it returns
// is waited after each failed round; backoff.Stop ends the call.
type Policy func() backoff.BackOff

// Never makes Lock a single round, like TryLock.
func Never() Policy {
	return func() backoff.BackOff { return &backoff.StopBackOff{} }
}

// Random spaces rounds by delays drawn uniformly from [min, max], as the
// Redlock specification asks so that contenders stop colliding. It never
// gives up: Lock then waits until the lock is acquired or its context ends.
// It panics if min <= 0 or max < min.
func Random(min, max time.Duration) Policy {
	if min <= 0 || max < min {
		panic("redlock: retry.Random needs 0 < min <= max")
	}
	mid := (min + max) / 2
	spread := float64(max-min) / float64(max+min)
	return func() backoff.BackOff {
		b := backoff.NewExponentialBackOff(
			backoff.WithInitialInterval(mid),
			backoff.WithRandomizationFactor(spread),
			backoff.WithMultiplier(1),
			backoff.WithMaxInterval(mid),
			backoff.WithMaxElapsedTime(0),
		)
		return b
	}
}

// Default returns the policy core uses when none is given: Random(10ms, 100ms).
func Default() Policy { return Random(10*time.Millisecond, 100*time.Millisecond) }

// Constant spaces rounds by delay and gives up after maxTries rounds in all
// (maxTries <= 0: never gives up). It panics if delay < 0.
func Constant(delay time.Duration, maxTries int) Policy {
	if delay < 0 {
		panic("redlock: retry.Constant needs delay >= 0")
	}
	return MaxTries(func() backoff.BackOff { return backoff.NewConstantBackOff(delay) }, maxTries)
}

// Exponential spaces rounds by delays that start at initial and grow by
// half each round up to max, each randomised by ±50% (jitter), and gives up
// once maxElapsed has passed since the first round (maxElapsed <= 0: never
// gives up). It panics if initial <= 0 or max < initial.
func Exponential(initial, max, maxElapsed time.Duration) Policy {
	if initial <= 0 || max < initial {
		panic("redlock: retry.Exponential needs 0 < initial <= max")
	}
	return func() backoff.BackOff {
		return backoff.NewExponentialBackOff(
			backoff.WithInitialInterval(initial),
			backoff.WithMaxInterval(max),
			backoff.WithMultiplier(1.5),
			backoff.WithRandomizationFactor(0.5),
			backoff.WithMaxElapsedTime(maxElapsed),
		)
	}
}

// MaxTries caps p at maxTries rounds in all: the first round and at most
// maxTries-1 retries. maxTries <= 0 leaves p as it is.
func MaxTries(p Policy, maxTries int) Policy {
	if maxTries <= 0 {
		return p
	}
	return func() backoff.BackOff { return backoff.WithMaxRetries(p(), uint64(maxTries-1)) }
}

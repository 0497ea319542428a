package retry_test

import (
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"

	"github.com/redlock-go/redlock/retry"
)

// delays draws up to n delays from a fresh BackOff of p, stopping at Stop.
func delays(p retry.Policy, n int) []time.Duration {
	b := p()
	var out []time.Duration
	for range n {
		d := b.NextBackOff()
		if d == backoff.Stop {
			break
		}
		out = append(out, d)
	}
	return out
}

func TestNever(t *testing.T) {
	assert.Empty(t, delays(retry.Never(), 5))
}

func TestRandomStaysWithinBounds(t *testing.T) {
	ds := delays(retry.Random(10*time.Millisecond, 30*time.Millisecond), 2000)
	assert.Len(t, ds, 2000, "Random never gives up")
	lo, hi := ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	assert.GreaterOrEqual(t, lo, 10*time.Millisecond)
	assert.LessOrEqual(t, hi, 30*time.Millisecond)
	assert.Less(t, lo, 12*time.Millisecond, "draws reach near the lower bound")
	assert.Greater(t, hi, 28*time.Millisecond, "draws reach near the upper bound")
}

func TestConstantCapsTries(t *testing.T) {
	assert.Equal(t, []time.Duration{5 * time.Millisecond, 5 * time.Millisecond}, delays(retry.Constant(5*time.Millisecond, 3), 10))
	assert.Len(t, delays(retry.Constant(time.Millisecond, 0), 50), 50, "0: no cap")
}

func TestExponentialGrowsWithJitter(t *testing.T) {
	ds := delays(retry.Exponential(10*time.Millisecond, 40*time.Millisecond, 0), 12)
	assert.Len(t, ds, 12)
	assert.LessOrEqual(t, ds[0], 15*time.Millisecond)
	for _, d := range ds {
		assert.LessOrEqual(t, d, 60*time.Millisecond, "max plus jitter")
	}
}

func TestExponentialStopsAfterMaxElapsed(t *testing.T) {
	p := retry.Exponential(time.Millisecond, time.Millisecond, time.Nanosecond)
	b := p()
	deadline := time.Now().Add(time.Second)
	for b.NextBackOff() != backoff.Stop {
		if time.Now().After(deadline) {
			t.Fatal("never stopped")
		}
	}
}

func TestMaxTriesWrapsAnyPolicy(t *testing.T) {
	assert.Len(t, delays(retry.MaxTries(retry.Default(), 4), 10), 3)
	custom := retry.Policy(func() backoff.BackOff { return &backoff.ZeroBackOff{} })
	assert.Len(t, delays(retry.MaxTries(custom, 2), 10), 1)
}

func TestFreshStatePerCall(t *testing.T) {
	p := retry.Constant(time.Millisecond, 2)
	assert.Len(t, delays(p, 10), 1)
	assert.Len(t, delays(p, 10), 1, "a second Lock call starts afresh")
}

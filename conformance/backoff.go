package conformance

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

// countingBackOff counts rounds and stops after max retries.
type countingBackOff struct {
	n   *int
	max int
}

func (b *countingBackOff) NextBackOff() time.Duration {
	*b.n++
	if *b.n > b.max {
		return backoff.Stop
	}
	return time.Millisecond
}

func (b *countingBackOff) Reset() {}

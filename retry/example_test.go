package retry_test

import (
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/redlock-go/redlock/retry"
)

// Any backoff.BackOff strategy plugs in as it is: here, five tries spaced
// by delays that double from 20ms, as a func() backoff.BackOff. Pass the
// policy to core.WithRetry.
func ExamplePolicy() {
	policy := retry.Policy(func() backoff.BackOff {
		b := backoff.NewExponentialBackOff(
			backoff.WithInitialInterval(20*time.Millisecond),
			backoff.WithMultiplier(2),
			backoff.WithRandomizationFactor(0),
		)
		return backoff.WithMaxRetries(b, 4)
	})
	b := policy()
	for d := b.NextBackOff(); d != backoff.Stop; d = b.NextBackOff() {
		fmt.Println(d)
	}
	// Output:
	// 20ms
	// 40ms
	// 80ms
	// 160ms
}

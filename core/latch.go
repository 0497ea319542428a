package core

import (
	"sync"
	"time"
)

// latch is a signal given once, which any number of goroutines wait for,
// stored in the struct that holds it rather than allocated like a channel.
// A latch is armed (closed) when made with arm and opens once, with open;
// opening it twice is a bug and fails like a second close of a channel.
type latch struct{ mu sync.RWMutex }

// arm closes the latch; it must be called before it is shared.
func (l *latch) arm() { l.mu.Lock() }

// open lets every waiter through, now and later.
func (l *latch) open() { l.mu.Unlock() }

// wait blocks until the latch is open.
func (l *latch) wait() {
	l.mu.RLock()
	l.mu.RUnlock()
}

// timers holds stopped timers for the short waits of rounds, so that a
// wait costs no allocation.
var timers sync.Pool

// startTimer returns a timer that fires after d; stop it with stopTimer.
func startTimer(d time.Duration) *time.Timer {
	if t, ok := timers.Get().(*time.Timer); ok {
		t.Reset(d) // stopped, so its channel is empty (Go 1.23 timers)
		return t
	}
	return time.NewTimer(d)
}

// stopTimer stops t and keeps it for startTimer.
func stopTimer(t *time.Timer) {
	t.Stop()
	timers.Put(t)
}

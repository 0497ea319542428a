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
		t.Reset(d) // stopped with an empty channel (see stopTimer)
		return t
	}
	return time.NewTimer(d)
}

// stopTimer stops t and keeps it for startTimer. A timer that had fired
// unread still holds its expiry in its channel under the timers of Go
// before 1.23 (which a program whose go.mod says so still gets): it is
// taken out, so that the next wait does not end at once.
func stopTimer(t *time.Timer) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	timers.Put(t)
}

package core

import "time"

// SetWakeIdle sets how long a subscription outlives its last waiter, and
// returns a function that restores it. Call it before any Lock waits.
func SetWakeIdle(d time.Duration) (restore func()) {
	old := wakeIdle
	wakeIdle = d
	return func() { wakeIdle = old }
}

// HubSize returns how many listeners (one per Subscriber node) and wait
// queues (one per lock with waiters) the process holds.
func HubSize() (nListeners, nQueues int) {
	listeners.mu.Lock()
	nListeners = len(listeners.byKey)
	listeners.mu.Unlock()
	queues.mu.Lock()
	defer queues.mu.Unlock()
	return nListeners, len(queues.byKey)
}

// SetForgetAfter sets how long a Locker keeps what it learned about a lock
// name no Mutex uses, and returns a function that restores it.
func SetForgetAfter(d time.Duration) (restore func()) {
	old := forgetAfter
	forgetAfter = d
	return func() { forgetAfter = old }
}

// Targets returns how many lock names l keeps state for.
func Targets(l *Locker) int { return int(l.c.targets.n.Load()) }

// Workers returns how many workers (see nodeTask) the process runs.
func Workers() int64 { return workers.Load() }

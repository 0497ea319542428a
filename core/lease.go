package core

import (
	"errors"
	"sync"
	"time"
)

// lease is one holding of a lock: from the acquisition or hand-over that
// won it until Unlock or loss. A refresh or an extension that a quorum
// confirms renews it; a new acquisition makes a new lease. The Mutex that
// holds it points to it; the lease knows nothing of the Mutex. While it is
// kept alive (WithKeepAlive) or watched (Mutex.Done), the Locker's keeper
// has it in its schedule.
type lease struct {
	t      *target
	pol    *policy
	k      scheduler
	prefix string    // the owner prefix it is held for
	claim  string    // its claim on the nodes (see acquire.lua): refreshes reuse it
	fence  uint64    // its fencing token, 0 without fencing
	start  time.Time // when the round that won it began, for the hold cap

	mu      sync.Mutex
	won     *round    // the last round that won or refreshed it: its nodes still in flight are released late
	unsure  uint64    // nodes where a round it replaced as won may still write (see round.unsure)
	until   time.Time // end of validity
	ended   bool
	err     error         // why it ended: ErrNotHeld after Unlock, else a loss
	done    chan struct{} // closed when it ends; made by doneChan, for Mutex.Done
	release flight        // the Unlock that releases it, which TryLocks wait for (see target.releasing)
	onEnd   []func(error)
	watched bool      // in the keeper's schedule
	extend  bool      // the keeper keeps it alive; false: it only watches for the loss time
	next    time.Time // the next extension
	count   int       // extensions the keeper made

	// The keeper's, under its mutex.
	at       time.Time // position in the schedule
	index    int       // in the keeper's heap; -1 when not in it
	inFlight bool      // an extension round is running
	retrying bool      // the last extension round failed: the next is a retry
}

// scheduler keeps the leases that are kept alive or watched: the
// Locker's keeper.
type scheduler interface {
	add(ls *lease)        // start watching
	reschedule(ls *lease) // its validity or extension plan changed
	remove(ls *lease)     // it ended
}

func newLease(t *target, p *policy, k scheduler, prefix, claim string, fence uint64, start, until time.Time, won *round) *lease {
	return &lease{t: t, pol: p, k: k, prefix: prefix, claim: claim, fence: fence, start: start, until: until, won: won,
		index: -1, next: start.Add(p.every)}
}

// doneChan returns the channel that is closed when the lease ends: made on
// first use, so that a holding nobody watches costs no channel.
func (ls *lease) doneChan() <-chan struct{} {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.done == nil {
		if ls.ended {
			return closedChan
		}
		ls.done = make(chan struct{})
	}
	return ls.done
}

// validUntil returns the end of validity, the zero Time once the lease has
// ended or its validity has passed.
func (ls *lease) validUntil() time.Time {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.ended || !time.Now().Before(ls.until) {
		return time.Time{}
	}
	return ls.until
}

// live reports whether the lease has not ended and is still valid.
func (ls *lease) live() bool { return !ls.validUntil().IsZero() }

// renew records a new validity after a refresh or an Extend by the holder
// that a round begun at start confirmed; won is the refreshing round, nil
// for an extension. It reports false when the lease has ended.
func (ls *lease) renew(start, until time.Time, won *round) bool {
	ls.mu.Lock()
	if ls.ended {
		ls.mu.Unlock()
		return false
	}
	if won != nil {
		if ls.won != nil {
			ls.unsure |= ls.won.unsure()
		}
		ls.won = won
	}
	if until.After(ls.until) {
		ls.until = until
	}
	ls.next = start.Add(ls.pol.every)
	watched := ls.watched
	ls.mu.Unlock()
	if watched {
		ls.k.reschedule(ls)
	}
	return true
}

// end ends the lease with err, closes its done channel and calls the
// functions waiting for its end. Later calls do nothing.
func (ls *lease) end(err error) {
	ls.mu.Lock()
	if ls.ended {
		ls.mu.Unlock()
		return
	}
	ls.ended, ls.err = true, err
	fns, watched := ls.onEnd, ls.watched
	ls.onEnd = nil
	if ls.done != nil {
		close(ls.done)
	}
	ls.mu.Unlock()
	ls.t.holder.CompareAndSwap(ls, nil)
	ls.pol.observe(nil, ls.t.name, Event{Kind: Ended, Took: time.Since(ls.start), Err: err}, nil, nil)
	if watched {
		ls.k.remove(ls)
	}
	for _, fn := range fns {
		fn(err)
	}
}

// reason returns why the lease ended, nil while it has not.
func (ls *lease) reason() error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.err
}

// watch puts the lease in the keeper's schedule, to be extended when
// extend is set (WithKeepAlive), else only to end at its loss time. A
// lease already watched is kept alive from then on if extend is set.
func (ls *lease) watch(extend bool) {
	ls.mu.Lock()
	if ls.ended || (ls.watched && (ls.extend || !extend)) {
		ls.mu.Unlock()
		return
	}
	ls.extend = ls.extend || extend
	first := !ls.watched
	ls.watched = true
	ls.mu.Unlock()
	if first {
		ls.k.add(ls)
	} else {
		ls.k.reschedule(ls)
	}
}

// whenEnded calls fn with the lease's end error when it ends, at once if
// it already has.
func (ls *lease) whenEnded(fn func(error)) {
	ls.mu.Lock()
	if ls.ended {
		err := ls.err
		ls.mu.Unlock()
		fn(err)
		return
	}
	ls.onEnd = append(ls.onEnd, fn)
	ls.mu.Unlock()
}

// lossError is the error of a lease that ended by loss, with the node
// errors that tell why.
func (ls *lease) lossError(nodeErrs []error) error {
	errs := append([]error{ErrLockLost}, nodeErrs...)
	ls.mu.Lock()
	capped := ls.pol.keepAlive && !ls.extend && ls.watched
	ls.mu.Unlock()
	if capped {
		errs = append(errs, errCapped)
	}
	return &opError{name: ls.t.name, errs: errs}
}

// lastRound returns the last round that won or refreshed the lease, and
// the nodes where a round before it may still write.
func (ls *lease) lastRound() (*round, uint64) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.won, ls.unsure
}

var errCapped = errors.New("redlock: keep-alive cap reached")

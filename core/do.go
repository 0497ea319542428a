package core

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Do runs fn while holding the lock called name: the with-statement of
// this package. It acquires the lock as Mutex.Lock does (with retries, until
// ctx ends), keeps it alive while fn runs (WithKeepAlive), and releases it
// when fn returns or panics.
//
// fn's context is cancelled, with cause ErrLockLost (see
// context.Cause), the moment the lock can no longer be proven held; fn
// should stop its work then. Do returns fn's error, joined with the loss
// error when the lock was lost, or with the Unlock error when the release
// failed. When the lock is not acquired, fn does not run and Do returns
// Lock's error. With WithFencing, FenceOf(ctx) gives fn the fencing token.
func (l *Locker) Do(ctx context.Context, name string, fn func(ctx context.Context) error, opts ...Option) (err error) {
	m := l.NewMutex(name, append(slices.Clip(opts), WithKeepAlive(true))...)
	if err := m.Lock(ctx); err != nil {
		return err
	}
	return runHeld(ctx, fn, m.pol.nodeTimeout, m.Fence(), -1, m.whenEnded, m.Unlock)
}

// runHeld runs fn while a lock is held, for Do and its kin: fn's context
// carries the fencing token (when not 0) and the semaphore slot (when not
// -1), and is cancelled with the loss error when whenEnded reports the
// holding's end; release, bounded by two node timeouts, follows fn.
func runHeld(ctx context.Context, fn func(ctx context.Context) error, nodeTimeout time.Duration, fence uint64, slot int,
	whenEnded func(func(error)) bool, release func(context.Context) error) (err error) {
	fctx, cancel := context.WithCancelCause(ctx)
	if fence != 0 {
		fctx = context.WithValue(fctx, fenceKey{}, fence)
	}
	if slot >= 0 {
		fctx = context.WithValue(fctx, slotKey{}, slot)
	}
	whenEnded(cancel)
	defer func() {
		lost := context.Cause(fctx)
		cancel(nil)
		uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), nodeTimeout*2)
		defer ucancel()
		uerr := release(uctx)
		switch {
		case errors.Is(lost, ErrLockLost):
			if !errors.Is(err, lost) { // fn may have returned it: say it once
				err = errors.Join(err, lost)
			}
		case uerr != nil:
			err = errors.Join(err, uerr)
		}
	}()
	return fn(fctx)
}

type fenceKey struct{}

// FenceOf returns the fencing token of the lock that Locker.Do holds for
// the fn it was given ctx by (see WithFencing), or 0 when ctx carries none.
func FenceOf(ctx context.Context) uint64 {
	fence, _ := ctx.Value(fenceKey{}).(uint64)
	return fence
}

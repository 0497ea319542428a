package core

import (
	"context"
	"sync/atomic"
	"time"
)

// The node calls of a round are bounded by the node timeout. Rounds begun
// within deadlineSlack of one another share the context that carries that
// deadline, so that a round costs no context and no timer of its own: a
// node call may thus be given up to deadlineSlack longer than the node
// timeout, never less. Each round still passes its caller's values to the
// nodes (see nodeCtx). A round whose caller can cancel gets a context of
// its own, which ends with the caller's.

// deadlineSlack is how much later than the node timeout a shared deadline
// may fall: a millisecond, or a sixteenth of the timeout when that is less.
func deadlineSlack(timeout time.Duration) time.Duration {
	return min(timeout/16, time.Millisecond)
}

// sharedDeadline is a context that ends at a deadline, shared by rounds.
type sharedDeadline struct {
	ctx     context.Context
	cancel  context.CancelFunc // called by the context's own timer at the deadline
	at      time.Time
	timeout time.Duration // the node timeout it was made for
}

// deadlines is the shared deadline that rounds of a nodeSet reuse.
type deadlines struct {
	cur atomic.Pointer[sharedDeadline]
}

// after returns a context that ends timeout from now, or up to
// deadlineSlack(timeout) later.
func (d *deadlines) after(timeout time.Duration) context.Context {
	want := time.Now().Add(timeout)
	if s := d.cur.Load(); s != nil && s.timeout == timeout && !s.at.Before(want) && s.at.Sub(want) <= deadlineSlack(timeout) {
		return s.ctx
	}
	s := &sharedDeadline{at: want.Add(deadlineSlack(timeout)), timeout: timeout}
	s.ctx, s.cancel = context.WithDeadline(context.Background(), s.at)
	d.cur.Store(s)
	return s.ctx
}

// nodeCtx is the context of a round's node calls under a shared deadline:
// the deadline's Deadline, Done and Err, with the values of the caller's
// context (for tracing, say).
type nodeCtx struct {
	context.Context                 // the shared deadline
	values          context.Context // the caller's
}

// Value looks in the shared deadline first: it holds no values of its own
// but answers the context package's lookup of its cancellation, so that a
// context derived from a nodeCtx (by an adapter, say) is cancelled with it
// directly, and context.Cause works; any other key goes to the caller's.
func (c *nodeCtx) Value(key any) any {
	if v := c.Context.Value(key); v != nil {
		return v
	}
	return c.values.Value(key)
}

package core

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

var (
	// ErrNotAcquired means a lock was not taken: another owner holds it on
	// too many nodes, or too few nodes answered in time for a quorum.
	ErrNotAcquired = errors.New("redlock: not acquired")

	// ErrLockLost means a lock that was held can no longer be proven held:
	// its keys were deleted or taken over, or a quorum could not confirm an
	// extension before its validity ended.
	ErrLockLost = errors.New("redlock: lock lost")

	// ErrNotHeld means Unlock or Extend was called for a lock that this
	// owner does not hold on a quorum of nodes.
	ErrNotHeld = errors.New("redlock: not held")

	// ErrNotReleased means Unlock could not tell whether the lock was
	// released: so few nodes answered that a quorum may still hold it.
	// Those nodes keep it until its TTL ends, or until a later Unlock
	// reaches them.
	ErrNotReleased = errors.New("redlock: release not confirmed")

	// ErrNotExtended means an extension was not confirmed by a quorum of
	// nodes in time, but the lock is still held until Mutex.Until().
	ErrNotExtended = errors.New("redlock: not extended")

	// ErrHeldByOther is a NodeError's cause when a node refused an
	// acquisition because another owner holds the lock there.
	ErrHeldByOther = errors.New("redlock: held by another owner")

	// ErrNodeRejected is a NodeError's cause when the node rejected the
	// command itself, not the lock: its user lacks a right (NOPERM), the
	// client is not logged in (NOAUTH, WRONGPASS), the keys are in
	// different slots of a cluster (CROSSSLOT), the client did not follow
	// the cluster's redirects (MOVED, ASK), the lock's key holds another
	// type (WRONGTYPE), or the server does not know the command. Asking
	// again does not help until the deployment changes: Lock stops at once
	// when so many nodes rejected the command that no quorum is left. The
	// NodeError's Err is the client's error as it came.
	ErrNodeRejected = errors.New("redlock: the node rejected the command")

	// ErrNodeTimeout is a NodeError's cause when a node did not answer
	// within the per-node timeout (see WithNodeTimeout).
	ErrNodeTimeout = errors.New("redlock: no answer within the node timeout")
)

// NodeError is what one node answered when an operation did not succeed:
// a refusal (ErrHeldByOther, ErrNotHeld), a timeout (ErrNodeTimeout), or the
// error its client returned. Errors returned by Mutex and Locker hold one
// NodeError for each node that did not go along; errors.As finds the first,
// and the Unwrap() []error method of the returned error lists them all.
type NodeError struct {
	// Addr is the node's address, from Node.Addr.
	Addr string
	// Err is what went wrong on that node.
	Err error
}

// Error reports the node's address and what it answered.
func (e *NodeError) Error() string { return "node " + e.Addr + ": " + e.Err.Error() }

// Unwrap returns e.Err.
func (e *NodeError) Unwrap() error { return e.Err }

// Is reports whether e is an ErrNodeRejected: an error reply that says the
// command itself was rejected.
func (e *NodeError) Is(target error) bool { return target == ErrNodeRejected && rejectedReply(e.Err) }

// rejectedCodes are the error codes of replies that reject the command
// itself (see ErrNodeRejected). Transient ones (LOADING, BUSY, TRYAGAIN,
// CLUSTERDOWN, MASTERDOWN, READONLY during a failover) are not here.
var rejectedCodes = []string{
	"NOPERM", "NOAUTH", "WRONGPASS", "CROSSSLOT", "MOVED", "ASK", "WRONGTYPE", "ERR unknown command",
	"ERR The user executing the script can't run this command", // a script's command the user lacks
}

// rejectedReply reports whether err, or an error it wraps, is an error
// reply with one of rejectedCodes. Clients return error replies as errors
// whose text is the reply ("NOPERM User ... has no permissions ...").
func rejectedReply(err error) bool {
	for err != nil {
		msg := err.Error()
		for _, code := range rejectedCodes {
			if strings.HasPrefix(msg, code) && (len(msg) == len(code) || msg[len(code)] == ' ') {
				return true
			}
		}
		err = errors.Unwrap(err)
	}
	return false
}

// opError is the error of one operation on one lock: a sentinel, the node
// errors that explain it, and the caller's context error when it ended.
type opError struct {
	name  string
	errs  []error // errs[0] is the sentinel
	final bool    // so many nodes rejected the command that no round can succeed
}

func (e *opError) Error() string {
	var b strings.Builder
	b.WriteString(e.errs[0].Error())
	b.WriteString(" (lock ")
	b.WriteString(strconv.Quote(e.name))
	b.WriteString(")")
	for i, err := range e.errs[1:] {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e *opError) Unwrap() []error { return e.errs }

// addCause returns err with cause added to its chain, unless already there.
func addCause(err, cause error) error {
	if cause == nil || errors.Is(err, cause) {
		return err
	}
	if oe, ok := err.(*opError); ok {
		return &opError{name: oe.name, errs: append(oe.errs[:len(oe.errs):len(oe.errs)], cause)}
	}
	return errors.Join(err, cause)
}

// brokenConn reports whether err says that the connection broke before the
// reply came back, so that a repeat on another connection may succeed: the
// end of the stream (io.EOF: the server closed it, as a restart does) or a
// reset, abort or broken pipe. Every client here returns these as the
// standard library made them. Timeouts, cancellation, a connection that
// could not be made (nothing was sent, and a repeat at once fails again)
// and error replies are not broken connections.
func brokenConn(err error) bool {
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	if notSent(err) {
		return false // the node is not taking connections
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	for _, errno := range brokenErrnos {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// timeoutErr reports whether err says that a deadline ran out.
func timeoutErr(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// notSent reports whether err is a Node's failure to connect: the call it
// failed was not sent.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// errAbandoned is the error of a round's call to a node that was not sent:
// by the time it would have gone out, the round had failed or the holding
// it won was released.
var errAbandoned = errors.New("redlock: not sent: the round was over")

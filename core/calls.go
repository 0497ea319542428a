package core

import (
	"fmt"
	"strconv"
)

// state is what one node's reply says about a call.
type state uint8

const (
	failed    state = iota // no answer in time, or an error: the outcome is unknown
	refused                // the node answered no: not ours, or held by another owner
	granted                // yes: created, released, extended, committed or handed over
	refreshed              // acquire found the owner's key and refreshed it
)

// reply is one node's answer to a call.
type reply struct {
	state   state
	err     error  // a NodeError when the node refused or failed
	counter int64  // fenced acquire: the node's fencing counter
	token   uint64 // fenced acquire: the token committed on the owner's key, 0 if none
	unsent  bool   // failed before the call was sent: the node cannot have run it
	reject  bool   // failed: the node rejected the command itself (ErrNodeRejected)
	read    *[]any // inspect: the values read (see inspect.lua); a pointer, so that every other reply stays small
}

// A call is one script call that a round sends to every node: its script,
// keys and args, how a reply reads, when the round has heard enough, and
// what a failed round undoes.
type call struct {
	script     *Script
	keys, args []string
	need       int  // the yeses that decide success
	writes     bool // it may create a key for owner args[0] with claim args[1]: nodes that answer late are tracked
	undo       bool // a failed round takes its claim back with undoCall on every node that may hold it
	detach     bool // it runs to its end even when the caller's context ends: releases and hand-overs
	wait       bool // the round waits for every node instead of deciding at the first quorum

	// settles: a release, which must not leave a key behind. A node whose
	// call failed, or that found nothing to release while unsure has it
	// (a call of the owner that may still write there is out: see
	// round.unsure), is asked again in the background (see
	// nodeSet.retryNode), whether the round heard it before its decision
	// or after.
	settles bool
	unsure  uint64

	// bg counts the round as the lock's background work (see
	// target.background) from the start of its calls until the last lands.
	bg *pending

	argv [6]string // storage for args
}

// with sets c's args to args, stored in c itself, and returns c.
func (c *call) with(args ...string) *call {
	c.args = append(c.argv[:0], args...)
	return c
}

// acquireCall takes the lock for owner prefix with claim, the round's
// nonce, or refreshes the holding whose claim it is when holding is set.
// contended has the script read the key before it writes (see
// acquire.lua): a refusal, which a round under contention most likely
// meets, then costs the node one command.
// A failed acquisition takes its claim back; a failed refresh leaves what
// it wrote to the holding, whose Unlock releases it. Fenced, it also reads
// the counter and the round waits for every node, so that the token is
// computed from all the counters it can read.
func acquireCall(t *target, p *policy, prefix, claim string, holding, contended bool) *call {
	mode := "0"
	switch {
	case p.refresh && holding:
		mode = "2"
	case p.refresh:
		mode = "1"
	}
	c := (&call{script: acquireScript, keys: t.lockKey, need: t.quorum, writes: true, undo: mode != "2", bg: &t.background}).with(prefix, claim, p.ttlms, mode)
	if contended {
		c.args = append(c.args, "1")
	}
	if p.fencing {
		c.keys, c.wait = t.keys, true
	}
	return c
}

// releaseCall releases the lock of owner prefix taken by rounds with
// nonces from lo to hi.
func releaseCall(t *target, prefix, lo, hi string) *call {
	return (&call{script: releaseScript, keys: t.lockKey, need: t.quorum, detach: true, settles: true, bg: &t.background}).with(prefix, lo, hi)
}

// unsureOf reports whether node i is in c.unsure; nodes past the mask's
// 64 always are.
func (c *call) unsureOf(i int) bool { return i >= 64 || c.unsure&(1<<i) != 0 }

// extendCall resets the TTL of the lock of owner prefix on the nodes where
// claim is among its claims. lowestNonce, the claim of a holding that an
// Extend made of another handle's lock, extends the key whatever its claims.
func extendCall(t *target, p *policy, prefix, claim string) *call {
	if claim == lowestNonce {
		claim = ""
	}
	return (&call{script: extendScript, keys: t.lockKey, need: t.quorum}).with(prefix, p.ttlms, claim)
}

// fenceCall commits token on the nodes where owner prefix holds the lock
// with claim, the counters to live p's counter TTL; it succeeds on the
// fence quorum (see policy.fenceQuorum).
func fenceCall(t *target, p *policy, prefix, claim string, token uint64) *call {
	return (&call{script: fenceScript, keys: t.keys, need: p.fenceQuorum}).with(prefix, strconv.FormatUint(token, 10), hex16(token), claim, p.counterTTLms)
}

// handoverCall passes the lock of owner from, taken by rounds lo to hi, to
// owner to, as created by round nonce with to's TTL.
func handoverCall(t *target, p *policy, to, nonce, from, lo, hi string) *call {
	return (&call{script: handoverScript, keys: t.lockKey, need: t.quorum, writes: true, undo: true, detach: true}).with(to, nonce, p.ttlms, from, lo, hi)
}

// inspectCall reads the locks whose keys (each lock key and its fencing
// counter) are keys, on every node that answers within the node timeout.
func inspectCall(keys []string) *call {
	return &call{script: inspectScript, keys: keys, need: 1, wait: true}
}

// breakCall deletes the locks whose lock keys are keys, when they are the
// owner's whose fingerprint is owner ("" for any owner), on every node that
// answers within the node timeout; each reply's counter is how many it
// deleted.
func breakCall(keys []string, owner string) *call {
	return (&call{script: breakScript, keys: keys, need: 1, wait: true}).with(owner)
}

// decode reads node addr's reply v to c. repeated is set when the call was
// sent a second time after a broken connection.
func (c *call) decode(addr string, v any, repeated bool) reply {
	if c.script == inspectScript {
		values, ok := v.([]any)
		if !ok || len(values) != 3*(len(c.keys)/2) {
			return reply{state: failed, err: &NodeError{Addr: addr, Err: errUnexpected(v, c.script)}}
		}
		return reply{state: granted, read: &values}
	}
	if c.script == breakScript {
		deleted, ok := v.(int64)
		if !ok || deleted < 0 {
			return reply{state: failed, err: &NodeError{Addr: addr, Err: errUnexpected(v, c.script)}}
		}
		return reply{state: granted, counter: deleted}
	}
	var counter int64
	var token uint64
	if c.script == acquireScript {
		if triple, ok := v.([]any); ok && len(triple) == 3 {
			v = triple[0]
			counter, _ = triple[1].(int64)
			if s, ok := triple[2].(string); ok && s != "" {
				var err error
				if token, err = strconv.ParseUint(s, 16, 64); err != nil {
					return reply{state: failed, err: &NodeError{Addr: addr, Err: errUnexpected(triple, c.script)}}
				}
			}
		}
	}
	code, ok := v.(int64)
	switch {
	case !ok || code < 0 || code > 2 || (code == 2 && c.script != acquireScript):
		return reply{state: failed, err: &NodeError{Addr: addr, Err: errUnexpected(v, c.script)}}
	case code == 0 && repeated && c.script == releaseScript:
		// The first call may have released it and lost its reply.
		return reply{state: granted}
	case code == 0 && c.script == acquireScript:
		return reply{state: refused, err: &NodeError{Addr: addr, Err: ErrHeldByOther}, counter: counter}
	case code == 0:
		return reply{state: refused, err: &NodeError{Addr: addr, Err: ErrNotHeld}}
	case code == 2:
		return reply{state: refreshed, counter: counter, token: token}
	}
	return reply{state: granted, counter: counter, token: token}
}

// hex16 formats a nonce or token as the 16 hex digits the scripts compare.
func hex16(v uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

func errUnexpected(v any, s *Script) error {
	return fmt.Errorf("unexpected reply %#v to %s", v, s.name)
}

package core

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
)

// This file is the driver surface: what an adapter implements and reads.
// Applications use Locker and Mutex; an adapter implements Node and, where
// its client can, the optional abilities below. Core finds each ability
// with a type assertion and works without it:
//
//   - Batcher: many script calls in one round trip. Without it, the
//     keep-alive's batched extensions are sent one call at a time, a few at
//     a time in parallel.
//   - Subscriber: the release notifications that wake waiting Locks.
//     Without it, a waiting Lock polls with its retry policy's delays.
//
// Every script core sends is safe to repeat (each script's header says
// why), so core repeats a call once, within the node's deadline, when its
// error says the connection broke before the reply came back.

// Node is one independent Redis master, as seen by core.
//
// Node is for adapter authors: applications build Nodes with an adapter
// (backend/goredis, backend/redigo, backend/rueidis, backend/valkey) and use Locker and
// Mutex. Every lock semantic lives in core; an adapter only carries core's
// scripts to its server and brings the replies back. The conformance package
// holds the suite that proves an adapter.
//
// Eval runs script on the server with keys and args: EVALSHA with
// script.Hash() first and, when the server answers NOSCRIPT, EVAL with
// script.Source(), so a SCRIPT FLUSH or a fresh server costs one extra round
// trip, never a failure. It must return when ctx ends, at its deadline or
// at an earlier cancellation, whichever comes first, also while the client
// waits for a connection to be made, and must not keep ctx after it
// returns (a call the client cannot abandon may go on in the background);
// see EndsAtDeadline for the calls that only their deadline can end.
// The reply comes back as the client decoded it, normalised to: int64 for
// integers, string for bulk and simple strings, []any for arrays, nil for
// a nil reply. A nil reply is a value, not an error. Under RESP3 a client
// may decode more types; map them as RESP2 would have sent them (a Lua true
// is 1, false is nil). core's scripts return nothing else.
//
// An error means the outcome is unknown: the server may or may not have run
// the script. Return the client's error as it is (network errors, timeouts,
// WRONGTYPE, NOPERM, authentication failures); core wraps it once in a
// NodeError that names the node, and counts the node as possibly written.
// A broken connection should come back as an error that wraps io.EOF,
// io.ErrUnexpectedEOF, net.ErrClosed, syscall.ECONNRESET or syscall.EPIPE,
// which is what the standard library returns: core then repeats the call
// once on what should be a fresh connection.
//
// Addr names the node in errors and events, usually host:port. It must not
// change for the life of the Node, even when the client follows a failover
// or a cluster's topology: take it once, at construction. Processes that
// share a lock must give the same node the same Addr (core places a lock's
// gate and wait queues by it): for a cluster or a Sentinel group, name it
// from what the application configured (the seed addresses in their order,
// or the master name and sentinels), not from what the client discovered.
// Two Nodes of one Locker must not share an Addr.
//
// A Redis Cluster or a Sentinel group is one Node: an adapter over a client
// that speaks to either routes each call as that client does. Every key of
// one call is in one hash slot (see Key).
//
// Constructors that take an application's client (NewNode) use it as it
// is. Constructors that build a client from a URL (NewNodeFromURL, see
// package nodeurl) must not need the server at construction: when the
// client dials in its constructor, make it on first use and again after a
// failed attempt, each attempt bounded by the calling context.
//
// A Node must be safe for concurrent use.
type Node interface {
	Eval(ctx context.Context, script *Script, keys, args []string) (any, error)
	Addr() string
}

// EndsAtDeadline reports whether ctx, given to Eval, ends at its deadline
// and at no earlier moment: core made it for the node calls of rounds
// whose callers cannot cancel, and nothing cancels it before then. An
// adapter whose client can bound a call by a deadline alone (a read
// deadline on its connection) may do so for such a ctx, instead of
// watching ctx.Done on a goroutine of its own, and still meet the Eval
// contract. A context derived from ctx does not qualify: whoever derived
// it may cancel it.
func EndsAtDeadline(ctx context.Context) bool {
	_, ok := ctx.(*nodeCtx)
	return ok
}

// Batcher is an optional interface of a Node: sending many script calls in
// one round trip (a pipeline). Core uses it to extend many kept-alive locks
// at once. A Node without it gets the calls one by one, a few at a time.
//
// EvalBatch runs every call and fills in its Reply and Err, with the
// meaning and normalisation of Node.Eval, including the fallback from
// EVALSHA to EVAL on NOSCRIPT. ctx bounds the whole batch. A call whose
// outcome is unknown gets an error. The calls of one batch are independent
// of one another: they may run in any order (those that met NOSCRIPT may
// run again after later ones), and EvalBatch may return at ctx's end with
// the calls not yet answered failed, as long as it writes nothing into
// calls after it returns.
type Batcher interface {
	EvalBatch(ctx context.Context, calls []Call)
}

// Call is one script call of a batch.
type Call struct {
	Script     *Script
	Keys, Args []string
	Reply      any   // set by EvalBatch
	Err        error // set by EvalBatch
}

// Subscriber is an optional interface of a Node: receiving the release
// notifications that core's release script publishes, so that a waiting
// Mutex.Lock wakes as soon as the lock is released instead of sleeping out
// its retry delay. Without it, or while a subscription is broken, Lock
// polls with the delays of its retry policy.
//
// Listen subscribes to the channels matching pattern (PSUBSCRIBE), calls
// ready once, when the server has confirmed the subscription, and then
// deliver with the channel of each message, from one goroutine, until ctx
// ends (Listen then returns nil) or the subscription breaks (it returns the
// error; core listens again after a pause). A subscription that the server
// ends while ctx is live is broken too: return a non-nil error. ready and
// deliver return at once. Listen must use a connection of its own, not one
// of a pool shared with Eval; over a cluster client, a pattern subscription
// on any one master hears the releases of every master (Redis Cluster
// forwards PUBLISH to all nodes).
//
// Core keeps at most one Listen running per Node in a process, and only
// while some Lock is waiting on that Node (and for a moment after).
type Subscriber interface {
	Listen(ctx context.Context, pattern string, ready func(), deliver func(channel string)) error
}

// Script is a Lua script that core runs on its nodes. Adapters read it;
// only core makes them.
type Script struct {
	name    string
	src     string
	hash    string
	hashArg any
}

func newScript(name, src string) *Script {
	sum := sha1.Sum([]byte(src))
	hash := hex.EncodeToString(sum[:])
	return &Script{name: name, src: src, hash: hash, hashArg: hash}
}

// Name is a short name for the script, such as "acquire".
func (s *Script) Name() string { return s.name }

// Source is the Lua source, for EVAL.
func (s *Script) Source() string { return s.src }

// Hash is the hex SHA-1 of the source, for EVALSHA.
func (s *Script) Hash() string { return s.hash }

// HashArg is Hash as an interface value, made once: an adapter whose
// client takes a command's arguments as []any passes it without the
// allocation that putting the string in an interface costs each call.
func (s *Script) HashArg() any { return s.hashArg }

// Key returns the Redis key that holds the lock called name on every node:
// "redlock:{" + name + "}". The braces make a cluster hash tag: Redis
// Cluster hashes the name up to its first "}", so the keys and channel of
// one lock share a slot. That is why a lock name may not begin with "}"
// (see Locker.NewMutex).
func Key(name string) string { return "redlock:{" + name + "}" }

// FenceKey returns the Redis key of the fencing counter of the lock called
// name (see WithFencing): an integer that expires when the name has not
// been fenced for the counter TTL (WithCounterTTL), in the same cluster
// hash slot as Key(name).
func FenceKey(name string) string { return Key(name) + ":fence" }

// Channel returns the pub/sub channel on which the release of the lock
// called name is announced.
func Channel(name string) string { return Key(name) + ":released" }

// releasePattern matches the release channel of every lock.
const releasePattern = "redlock:*:released"

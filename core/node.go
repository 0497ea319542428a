package core

import (
	"context"
	"crypto/sha1"
	_ "embed"
	"encoding/hex"
)

// Node is one independent Redis master, as seen by core.
//
// Node is for adapter authors: applications build Nodes with an adapter
// (backend/goredis, backend/redigo, backend/rueidis) and use Locker and
// Mutex. Every lock semantic lives in core; an adapter only carries core's
// scripts to its server and brings the replies back. The conformance package
// holds the suite that proves an adapter.
//
// Eval runs script on the server with keys and args: EVALSHA with
// script.Hash() first and, when the server answers NOSCRIPT, EVAL with
// script.Source(), so a SCRIPT FLUSH or a fresh server costs one extra round
// trip, never a failure. It must honour ctx's deadline and cancellation for
// the network I/O itself, not only for taking a connection from a pool, and
// must not keep ctx after it returns. The reply comes back as the client
// decoded it, normalised to: int64 for integers, string for bulk and simple
// strings, []any for arrays, nil for a nil reply. A nil reply is a value,
// not an error.
//
// An error means the outcome is unknown: the server may or may not have run
// the script. Return the client's error as it is (network errors, timeouts,
// WRONGTYPE, NOPERM, authentication failures); core wraps it once in a
// NodeError that names the node, and counts the node as possibly written.
//
// Addr names the node in errors and events, usually host:port. Two Nodes of
// one Locker must not share an Addr.
//
// A Node must be safe for concurrent use. Further abilities are optional
// interfaces that core detects by type assertion; a Node without them gets
// the baseline behaviour their docs describe.
type Node interface {
	Eval(ctx context.Context, script *Script, keys, args []string) (any, error)
	Addr() string
}

// Script is a Lua script that core runs on its nodes. Adapters read it;
// only core makes them.
type Script struct {
	name string
	src  string
	hash string
}

func newScript(name, src string) *Script {
	sum := sha1.Sum([]byte(src))
	return &Script{name: name, src: src, hash: hex.EncodeToString(sum[:])}
}

// Name is a short name for the script, such as "acquire".
func (s *Script) Name() string { return s.name }

// Source is the Lua source, for EVAL.
func (s *Script) Source() string { return s.src }

// Hash is the hex SHA-1 of the source, for EVALSHA.
func (s *Script) Hash() string { return s.hash }

var (
	//go:embed acquire.lua
	acquireLua string
	//go:embed release.lua
	releaseLua string
	//go:embed extend.lua
	extendLua string
	//go:embed fence.lua
	fenceLua string
	//go:embed handover.lua
	handoverLua string

	acquireScript  = newScript("acquire", acquireLua)
	releaseScript  = newScript("release", releaseLua)
	extendScript   = newScript("extend", extendLua)
	fenceScript    = newScript("fence", fenceLua)
	handoverScript = newScript("handover", handoverLua)
)

// Scripts lists every script core runs, for adapters that load scripts
// ahead of use and for tests.
func Scripts() []*Script {
	return []*Script{acquireScript, releaseScript, extendScript, fenceScript, handoverScript}
}

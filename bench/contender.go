package main

import (
	"context"
	"errors"
	"time"

	redigolib "github.com/gomodule/redigo/redis"
	goredislib "github.com/redis/go-redis/v9"
	rueidislib "github.com/redis/rueidis"
)

// ttl is the lock TTL every contender uses.
const ttl = 10 * time.Second

// kind groups contenders in the report.
type kind int

const (
	ours  kind = iota // this library, through one of its backends
	peer              // another Go lock library
	floor             // the same commands with no lock library
)

// contender is one lock library with one Redis client.
type contender struct {
	name string
	kind kind
	// maxN is the largest N it supports: 1 for single-node libraries.
	maxN int
	// open connects to the given servers. What it returns is one
	// application's view of the lock service: one client per server, shared
	// by every handle.
	open func(addrs []string) (locks, error)
}

// locks is a contender opened on N servers.
type locks interface {
	// handle returns a handle for the lock called name, for one goroutine.
	handle(name string) (handle, error)
	close()
}

// handle is one goroutine's handle for one lock name.
type handle interface {
	// try makes one acquisition attempt, without waiting. It returns false
	// and no error when the lock is held by someone else.
	try(ctx context.Context) (bool, error)
	// release releases the lock that try or wait acquired.
	release(ctx context.Context) error
	// wait acquires the lock, waiting the way the library waits (its own
	// retry policy or notification), until ctx ends.
	wait(ctx context.Context) error
	// close frees what the handle holds, such as its own connections.
	close()
}

// pattern is how a goroutine gets the handles it acquires with.
type pattern int

const (
	// reused: one handle per goroutine and lock name, made before the
	// figure and reused for every acquisition.
	reused pattern = iota
	// fresh: a new handle for every acquisition, made inside the measured
	// time, the way a job writes locker.NewMutex(name).TryLock(ctx).
	fresh
)

// patterns are the patterns every figure measures, in report order.
var patterns = []pattern{reused, fresh}

// suffix is what the report appends to a contender's name for p.
func (p pattern) suffix() string {
	if p == fresh {
		return " (new)"
	}
	return ""
}

// freshLocks is the fresh pattern over l: its handles make a new handle
// of l for every try or wait, and close it when the lock is released or
// the attempt fails. Only the shared instance l is set up once.
type freshLocks struct{ l locks }

func (f freshLocks) handle(name string) (handle, error) {
	return &freshHandle{l: f.l, name: name}, nil
}

// close does nothing: the instance belongs to the reused pattern, which
// closes it.
func (f freshLocks) close() {}

type freshHandle struct {
	l    locks
	name string
	held handle // the handle of the lock acquired, until its release
}

func (h *freshHandle) try(ctx context.Context) (bool, error) {
	cur, err := h.l.handle(h.name)
	if err != nil {
		return false, err
	}
	ok, err := cur.try(ctx)
	if !ok || err != nil {
		cur.close()
		return false, err
	}
	h.held = cur
	return true, nil
}

func (h *freshHandle) wait(ctx context.Context) error {
	cur, err := h.l.handle(h.name)
	if err != nil {
		return err
	}
	if err := cur.wait(ctx); err != nil {
		cur.close()
		return err
	}
	h.held = cur
	return nil
}

func (h *freshHandle) release(ctx context.Context) error {
	if h.held == nil {
		return errors.New("release without a lock")
	}
	err := h.held.release(ctx)
	h.held.close()
	h.held = nil
	return err
}

func (h *freshHandle) close() {
	if h.held != nil {
		h.held.close()
	}
}

// contenders lists everything the bench measures, in report order.
func contenders() []contender {
	var out []contender
	out = append(out, ourContenders()...)
	out = append(out, peerContenders()...)
	out = append(out, floorContenders()...)
	return out
}

// quorum is the Redlock majority of n nodes.
func quorum(n int) int { return n/2 + 1 }

// poolSize lets each of the 64 goroutines of the throughput figure have
// two connections in the pooled clients, so that no figure measures a
// pool's queue, or its dialling: a library whose release returns at a
// quorum still has the last node's call in flight when the goroutine's
// next acquisition begins, and a redigo pool closes a connection given back
// beyond MaxIdle.
const poolSize = 128

// newGoredisClient is the go-redis client every go-redis contender uses,
// with context deadlines bounding network I/O (as backend/goredis asks).
func newGoredisClient(addr string) *goredislib.Client {
	return goredislib.NewClient(&goredislib.Options{
		Addr:                  addr,
		PoolSize:              poolSize,
		ContextTimeoutEnabled: true,
	})
}

// newRedigoPool is the redigo pool every redigo contender uses. The read
// and write timeouts bound the calls of libraries that pass no context.
func newRedigoPool(addr string) *redigolib.Pool {
	return &redigolib.Pool{
		MaxIdle: poolSize,
		DialContext: func(ctx context.Context) (redigolib.Conn, error) {
			return redigolib.DialContext(ctx, "tcp", addr,
				redigolib.DialReadTimeout(5*time.Second), redigolib.DialWriteTimeout(5*time.Second))
		},
	}
}

// newRueidisClient is a rueidis client for one server, rueidis's defaults
// otherwise (auto-pipelining on). Contenders that do not use client-side
// caching turn it off, as backend/rueidis advises.
func newRueidisClient(opt rueidislib.ClientOption) (rueidislib.Client, error) {
	opt.ForceSingleClient = true
	return rueidislib.NewClient(opt)
}

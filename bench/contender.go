package main

import (
	"context"
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

// poolSize lets each of the 64 goroutines of the throughput figure have a
// connection of its own in the pooled clients, so no figure measures a
// pool's queue.
const poolSize = 64

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

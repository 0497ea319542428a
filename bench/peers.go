package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/bsm/redislock"
	"github.com/go-redsync/redsync/v4"
	redsyncredis "github.com/go-redsync/redsync/v4/redis"
	redsyncgoredis "github.com/go-redsync/redsync/v4/redis/goredis/v9"
	redsyncredigo "github.com/go-redsync/redsync/v4/redis/redigo"
	redsyncrueidis "github.com/go-redsync/redsync/v4/redis/rueidis"
	redigolib "github.com/gomodule/redigo/redis"
	goredislib "github.com/redis/go-redis/v9"
	rueidislib "github.com/redis/rueidis"
	"github.com/redis/rueidis/rueidiscompat"
	"github.com/redis/rueidis/rueidislock"
)

// peerContenders are the other Go lock libraries, each with its defaults
// except the TTL.
func peerContenders() []contender {
	return []contender{
		{name: "redsync/goredis", kind: peer, maxN: 5, open: func(addrs []string) (locks, error) {
			var pools []redsyncredis.Pool
			var clients []*goredislib.Client
			for _, addr := range addrs {
				c := newGoredisClient(addr)
				clients = append(clients, c)
				pools = append(pools, redsyncgoredis.NewPool(c))
			}
			return newRedsyncLocks(pools, func() {
				for _, c := range clients {
					c.Close()
				}
			}), nil
		}},
		{name: "redsync/redigo", kind: peer, maxN: 5, open: func(addrs []string) (locks, error) {
			var pools []redsyncredis.Pool
			var rps []*redigolib.Pool
			for _, addr := range addrs {
				p := newRedigoPool(addr)
				rps = append(rps, p)
				pools = append(pools, redsyncredigo.NewPool(p))
			}
			return newRedsyncLocks(pools, func() {
				for _, p := range rps {
					p.Close()
				}
			}), nil
		}},
		{name: "redsync/rueidis", kind: peer, maxN: 5, open: func(addrs []string) (locks, error) {
			var pools []redsyncredis.Pool
			var clients []rueidislib.Client
			closeAll := func() {
				for _, c := range clients {
					c.Close()
				}
			}
			for _, addr := range addrs {
				c, err := newRueidisClient(rueidislib.ClientOption{InitAddress: []string{addr}, DisableCache: true})
				if err != nil {
					closeAll()
					return nil, err
				}
				clients = append(clients, c)
				pools = append(pools, redsyncrueidis.NewPool(rueidiscompat.NewAdapter(c)))
			}
			return newRedsyncLocks(pools, closeAll), nil
		}},
		{name: "bsm/redislock", kind: peer, maxN: 1, open: func(addrs []string) (locks, error) {
			c := newGoredisClient(addrs[0])
			return &redislockLocks{client: c, locker: redislock.New(c)}, nil
		}},
		{name: "rueidislock", kind: peer, maxN: 5, open: openRueidislock},
	}
}

// redsync: one Redsync per application, one Mutex per goroutine (a redsync
// Mutex is not safe for concurrent use). TryLockContext is one attempt;
// LockContext retries with redsync's default delays (50–250ms, 32 tries).

type redsyncLocks struct {
	rs      *redsync.Redsync
	closeFn func()
}

func newRedsyncLocks(pools []redsyncredis.Pool, closeFn func()) locks {
	return &redsyncLocks{rs: redsync.New(pools...), closeFn: closeFn}
}

func (l *redsyncLocks) handle(name string) (handle, error) {
	return redsyncHandle{l.rs.NewMutex(name, redsync.WithExpiry(ttl))}, nil
}

func (l *redsyncLocks) close() { l.closeFn() }

type redsyncHandle struct{ m *redsync.Mutex }

func (h redsyncHandle) try(ctx context.Context) (bool, error) {
	err := h.m.TryLockContext(ctx)
	var re *redsync.RedisError
	if err != nil && !errors.As(err, &re) {
		return false, nil // taken on too many nodes
	}
	return err == nil, err
}

func (h redsyncHandle) release(ctx context.Context) error {
	ok, err := h.m.UnlockContext(ctx)
	if err == nil && !ok {
		err = errors.New("redsync: unlock not confirmed by a quorum")
	}
	return err
}

func (h redsyncHandle) wait(ctx context.Context) error { return h.m.LockContext(ctx) }
func (h redsyncHandle) close()                         {}

// bsm/redislock: a single-node lock over go-redis. Obtain without options is
// one attempt; waiting uses the retry its README shows, every 100ms.

type redislockLocks struct {
	client *goredislib.Client
	locker *redislock.Client
}

func (l *redislockLocks) handle(name string) (handle, error) {
	return &redislockHandle{locker: l.locker, key: name}, nil
}

func (l *redislockLocks) close() { l.client.Close() }

type redislockHandle struct {
	locker *redislock.Client
	key    string
	held   *redislock.Lock
}

var redislockRetry = &redislock.Options{RetryStrategy: redislock.LinearBackoff(100 * time.Millisecond)}

func (h *redislockHandle) try(ctx context.Context) (bool, error) {
	l, err := h.locker.Obtain(ctx, h.key, ttl, nil)
	if errors.Is(err, redislock.ErrNotObtained) {
		return false, nil
	}
	h.held = l
	return err == nil, err
}

func (h *redislockHandle) release(ctx context.Context) error { return h.held.Release(ctx) }

func (h *redislockHandle) wait(ctx context.Context) error {
	l, err := h.locker.Obtain(ctx, h.key, ttl, redislockRetry)
	h.held = l
	return err
}

func (h *redislockHandle) close() {}

// rueidislock: one Locker per application over one rueidis client; a lock
// is a majority of KeyMajority*2-1 keys. Its single client is given a router
// so that key i of every lock goes to server i. TryWithContext is one
// attempt; WithContext waits for the keys' invalidation notices (client-side
// caching), not for a timer.

func openRueidislock(addrs []string) (locks, error) {
	locker, err := rueidislock.NewLocker(rueidislock.LockerOption{
		KeyMajority:    int32(quorum(len(addrs))),
		KeyValidity:    ttl,
		NoLoopTracking: true, // servers are Redis >= 7.0.5
		ClientBuilder: func(opt rueidislib.ClientOption) (rueidislib.Client, error) {
			return newRouter(addrs, opt)
		},
	})
	if err != nil {
		return nil, err
	}
	return &rueidislockLocks{locker: locker}, nil
}

type rueidislockLocks struct{ locker rueidislock.Locker }

func (l *rueidislockLocks) handle(name string) (handle, error) {
	return &rueidislockHandle{locker: l.locker, name: name}, nil
}

func (l *rueidislockLocks) close() { l.locker.Close() }

type rueidislockHandle struct {
	locker rueidislock.Locker
	name   string
	unlock context.CancelFunc
}

func (h *rueidislockHandle) try(ctx context.Context) (bool, error) {
	_, unlock, err := h.locker.TryWithContext(ctx, h.name)
	if errors.Is(err, rueidislock.ErrNotLocked) {
		return false, nil
	}
	h.unlock = unlock
	return err == nil, err
}

func (h *rueidislockHandle) release(context.Context) error {
	h.unlock() // returns once every key is deleted
	return nil
}

func (h *rueidislockHandle) wait(ctx context.Context) error {
	_, unlock, err := h.locker.WithContext(ctx, h.name)
	h.unlock = unlock
	return err
}

func (h *rueidislockHandle) close() {}

// router is the one rueidis.Client that rueidislock sees: it sends each
// command to the server its key's index names ("rueidislock:<i>:<name>").
// Everything else goes to the first server.
type router struct {
	rueidislib.Client
	nodes []rueidislib.Client
}

func newRouter(addrs []string, opt rueidislib.ClientOption) (rueidislib.Client, error) {
	r := &router{}
	for _, addr := range addrs {
		o := opt
		o.InitAddress = []string{addr}
		c, err := newRueidisClient(o)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.nodes = append(r.nodes, c)
	}
	r.Client = r.nodes[0]
	return r, nil
}

func (r *router) route(cmd rueidislib.Completed) rueidislib.Client {
	args := cmd.Commands()
	key := ""
	switch strings.ToUpper(args[0]) {
	case "EVAL", "EVALSHA":
		if len(args) > 3 {
			key = args[3]
		}
	default:
		if len(args) > 1 {
			key = args[1]
		}
	}
	_, rest, ok := strings.Cut(key, ":")
	if !ok {
		return r.nodes[0]
	}
	idx, _, _ := strings.Cut(rest, ":")
	i, err := strconv.Atoi(idx)
	if err != nil || i < 0 || i >= len(r.nodes) {
		return r.nodes[0]
	}
	return r.nodes[i]
}

func (r *router) Do(ctx context.Context, cmd rueidislib.Completed) rueidislib.RedisResult {
	return r.route(cmd).Do(ctx, cmd)
}

func (r *router) DoMulti(ctx context.Context, cmds ...rueidislib.Completed) []rueidislib.RedisResult {
	out := make([]rueidislib.RedisResult, len(cmds))
	for i, cmd := range cmds {
		out[i] = r.Do(ctx, cmd)
	}
	return out
}

func (r *router) Close() {
	for _, c := range r.nodes {
		c.Close()
	}
}

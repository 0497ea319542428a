package main

import (
	"context"
	"errors"
	"time"

	redigolib "github.com/gomodule/redigo/redis"
	goredislib "github.com/redis/go-redis/v9"
	rueidislib "github.com/redis/rueidis"
	valkeylib "github.com/valkey-io/valkey-go"

	"github.com/redlock-go/redlock/backend/goredis"
	"github.com/redlock-go/redlock/backend/redigo"
	"github.com/redlock-go/redlock/backend/rueidis"
	valkeynode "github.com/redlock-go/redlock/backend/valkey"
	"github.com/redlock-go/redlock/core"
)

// backend is one of this library's backends: how to build its nodes, one
// client per server, configured as the backend's docs advise. The returned
// function closes the clients.
type backend struct {
	name  string
	nodes func(addrs []string) ([]core.Node, func(), error)
}

var backends = []backend{
	{name: "redlock/goredis", nodes: func(addrs []string) ([]core.Node, func(), error) {
		var clients []*goredislib.Client
		nodes := make([]core.Node, len(addrs))
		for i, addr := range addrs {
			c := newGoredisClient(addr)
			clients = append(clients, c)
			nodes[i] = goredis.NewNode(c)
		}
		return nodes, func() {
			for _, c := range clients {
				c.Close()
			}
		}, nil
	}},
	{name: "redlock/redigo", nodes: func(addrs []string) ([]core.Node, func(), error) {
		var pools []*redigolib.Pool
		nodes := make([]core.Node, len(addrs))
		for i, addr := range addrs {
			p := newRedigoPool(addr)
			pools = append(pools, p)
			nodes[i] = redigo.NewNodeAddr(p, addr)
		}
		return nodes, func() {
			for _, p := range pools {
				p.Close()
			}
		}, nil
	}},
	{name: "redlock/rueidis", nodes: func(addrs []string) ([]core.Node, func(), error) {
		var clients []rueidislib.Client
		closeAll := func() {
			for _, c := range clients {
				c.Close()
			}
		}
		nodes := make([]core.Node, len(addrs))
		for i, addr := range addrs {
			c, err := newRueidisClient(rueidislib.ClientOption{InitAddress: []string{addr}, DisableCache: true})
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			clients = append(clients, c)
			nodes[i] = rueidis.NewNode(c)
		}
		return nodes, closeAll, nil
	}},
	{name: "redlock/valkey", nodes: func(addrs []string) ([]core.Node, func(), error) {
		var clients []valkeylib.Client
		closeAll := func() {
			for _, c := range clients {
				c.Close()
			}
		}
		nodes := make([]core.Node, len(addrs))
		for i, addr := range addrs {
			// As backend/valkey advises: pipelining, so that a cancelled
			// call ends at once.
			c, err := valkeylib.NewClient(valkeylib.ClientOption{
				InitAddress: []string{addr}, ForceSingleClient: true, DisableCache: true, AlwaysPipelining: true,
			})
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			clients = append(clients, c)
			nodes[i] = valkeynode.NewNode(c)
		}
		return nodes, closeAll, nil
	}},
}

// ourContenders are this library through each of its backends.
func ourContenders() []contender {
	var out []contender
	for _, b := range backends {
		out = append(out, contender{name: b.name, kind: ours, maxN: 5, open: func(addrs []string) (locks, error) {
			nodes, closeFn, err := b.nodes(addrs)
			if err != nil {
				return nil, err
			}
			return newOurLocks(nodes, closeFn)
		}})
	}
	return out
}

type ourLocks struct {
	locker  *core.Locker
	closeFn func()
}

func newOurLocks(nodes []core.Node, closeFn func()) (locks, error) {
	l, err := core.New(nodes, core.WithTTL(ttl))
	if err != nil {
		closeFn()
		return nil, err
	}
	return &ourLocks{locker: l, closeFn: closeFn}, nil
}

func (l *ourLocks) handle(name string) (handle, error) {
	return ourHandle{l.locker.NewMutex(name)}, nil
}

// close waits for the releases still on their way (see core.Locker.Wait)
// before it closes the clients, so that no key outlives the instance.
func (l *ourLocks) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.locker.Wait(ctx)
	l.closeFn()
}

type ourHandle struct{ m *core.Mutex }

func (h ourHandle) try(ctx context.Context) (bool, error) {
	err := h.m.TryLock(ctx)
	if err != nil && heldByOther(err) {
		return false, nil
	}
	return err == nil, err
}

// heldByOther reports whether err is a refusal only: not acquired, and
// every node that did not grant said another owner holds the lock.
func heldByOther(err error) bool {
	if !errors.Is(err, core.ErrNotAcquired) {
		return false
	}
	multi, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return false
	}
	for _, e := range multi.Unwrap() {
		var ne *core.NodeError
		if errors.As(e, &ne) && !errors.Is(ne, core.ErrHeldByOther) {
			return false
		}
	}
	return true
}

func (h ourHandle) release(ctx context.Context) error { return h.m.Unlock(ctx) }
func (h ourHandle) wait(ctx context.Context) error    { return h.m.Lock(ctx) }
func (h ourHandle) close()                            {}

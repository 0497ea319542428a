// Package rueidis is the core.Node adapter for github.com/redis/rueidis.
//
//	client, err := rueidis.NewClient(rueidis.ClientOption{
//		InitAddress:  []string{"127.0.0.1:6379"},
//		DisableCache: true,
//	})
//	if err != nil {
//		return err
//	}
//	locker, err := core.New([]core.Node{redlockrueidis.NewNode(client)})
//
// The package shares its name with the client's, so a program that imports
// both renames one of them, as redlockrueidis above.
//
// Scripts run through rueidis's own Lua support (rueidis.NewLuaScript):
// EVALSHA first, EVAL when the server answers NOSCRIPT. rueidis bounds every
// call by its context's deadline, so the per-node timeout of core bounds the
// network I/O itself with no extra goroutine; except a cluster client while
// one of its masters hangs, whose calls to that master wait for a redial
// (up to the dial timeout, 5s by default) past their deadline: over a
// cluster client, each call runs in a goroutine of its own and the Node
// returns at the deadline. rueidis never retries a script call, so each
// call runs its script at most once.
//
// Options that matter:
//
//   - DisableCache: the lock scripts are never cached reads, so client-side
//     caching gains a lock nothing. The adapter works with it on or off; off
//     (DisableCache: true) spares each connection its CLIENT TRACKING
//     command, and is required for servers without RESP3 (before Redis 6).
//   - Pipelining: rueidis sends concurrent commands of all goroutines down
//     one connection per server, or a few chosen at random per command
//     (PipelineMultiplex; 4 by default on 4 or more CPUs), each dialled on
//     first use. Two calls in flight at once may reach the server in either
//     order. A server that stops answering holds up every command on its
//     connections: each call still returns at its own deadline, and rueidis
//     drops the connection after ConnWriteTimeout (10s by default) and
//     dials again on the next call.
//   - A cluster or sentinel client counts as one Node of the Locker; the
//     Nodes of one Locker must be independent masters (see core's safety
//     limits).
//
// A Redis Cluster or a Sentinel group counts as one node because its
// replication is asynchronous: a failover can lose a lock written to the
// old master just before, and the promoted replica grants it again.
// Redlock's safety comes from several independent nodes, not from the
// replicas of one. Through a sentinel client (Sentinel.MasterSet) the Node
// follows the master that the sentinels promote: rueidis moves to it when
// a sentinel announces it. A subscription is not moved: if the old master
// still runs, it stays there until the sentinels make that server a
// replica, and waiting Locks poll until then.
package rueidis

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/redis/rueidis"

	"github.com/redlock-go/redlock/core"
)

// NewNode returns a core.Node that runs core's scripts through client. Its
// Addr is the client's node addresses, sorted and joined by ",". The Node
// implements io.Closer, but Close returns nil and leaves client to its
// owner. NewNode panics if client is nil.
func NewNode(client rueidis.Client) core.Node {
	if client == nil {
		panic("redlock: rueidis.NewNode: nil client")
	}
	addr := strings.Join(slices.Sorted(maps.Keys(client.Nodes())), ",")
	if addr == "" {
		addr = fmt.Sprintf("rueidis-%p", client)
	}
	return &node{client: client, addr: addr, bounded: client.Mode() == rueidis.ClientModeCluster}
}

type node struct {
	client rueidis.Client
	addr   string
	// bounded: the client may hold a call past its context's end, so each
	// call runs apart and the Node returns at the deadline. A cluster
	// client does, while one of its masters hangs: its calls wait for a
	// redial of up to the dial timeout (5s by default), whatever their
	// deadline.
	bounded bool
}

func (n *node) Addr() string { return n.addr }

func (n *node) Eval(ctx context.Context, script *core.Script, keys, args []string) (any, error) {
	if !n.bounded {
		return eval(ctx, n.client, script, keys, args)
	}
	type result struct {
		v   any
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := eval(ctx, n.client, script, keys, args)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// EvalBatch sends every call down the client's pipeline at once
// (core.Batcher): EVALSHA, then EVAL for the calls that met NOSCRIPT.
func (n *node) EvalBatch(ctx context.Context, calls []core.Call) {
	if !n.bounded {
		evalBatch(ctx, n.client, calls)
		return
	}
	own := slices.Clone(calls) // the abandoned batch writes here, not in calls
	done := make(chan struct{})
	go func() {
		evalBatch(ctx, n.client, own)
		close(done)
	}()
	select {
	case <-done:
		copy(calls, own)
	case <-ctx.Done():
		for i := range calls {
			calls[i].Err = ctx.Err()
		}
	}
}

func evalBatch(ctx context.Context, client rueidis.Client, calls []core.Call) {
	cmds := make(rueidis.Commands, len(calls))
	for i, c := range calls {
		cmds[i] = client.B().Evalsha().Sha1(c.Script.Hash()).Numkeys(int64(len(c.Keys))).Key(c.Keys...).Arg(c.Args...).Build()
	}
	var retry []int
	for i, r := range client.DoMulti(ctx, cmds...) {
		if e, ok := rueidis.IsRedisErr(r.Error()); ok && e.IsNoScript() {
			retry = append(retry, i)
			continue
		}
		calls[i].Reply, calls[i].Err = toAny(r)
	}
	if len(retry) == 0 {
		return
	}
	cmds = cmds[:0]
	for _, i := range retry {
		c := calls[i]
		cmds = append(cmds, client.B().Eval().Script(c.Script.Source()).Numkeys(int64(len(c.Keys))).Key(c.Keys...).Arg(c.Args...).Build())
	}
	for x, r := range client.DoMulti(ctx, cmds...) {
		calls[retry[x]].Reply, calls[retry[x]].Err = toAny(r)
	}
}

// Close returns nil: the client belongs to the caller of NewNode.
func (n *node) Close() error { return nil }

// scripts holds one *rueidis.Lua for each *core.Script, shared by all Nodes.
var scripts sync.Map

func lua(script *core.Script) *rueidis.Lua {
	if l, ok := scripts.Load(script); ok {
		return l.(*rueidis.Lua)
	}
	l, _ := scripts.LoadOrStore(script, rueidis.NewLuaScript(script.Source()))
	return l.(*rueidis.Lua)
}

// eval runs script on client and normalises the reply: int64, string,
// []any and nil (a nil reply is a value, not an error). Error replies come
// back as *rueidis.RedisError.
func eval(ctx context.Context, client rueidis.Client, script *core.Script, keys, args []string) (any, error) {
	return toAny(lua(script).Exec(ctx, client, keys, args))
}

// toAny is a script's reply as core reads it.
func toAny(r rueidis.RedisResult) (any, error) {
	v, err := r.ToAny()
	if rueidis.IsRedisNil(err) {
		return nil, nil
	}
	return v, err
}

// Listen subscribes to pattern on a dedicated connection (core.Subscriber).
func (n *node) Listen(ctx context.Context, pattern string, ready func(), deliver func(channel string)) error {
	return listen(ctx, n.client, pattern, ready, deliver)
}

func listen(ctx context.Context, client rueidis.Client, pattern string, ready func(), deliver func(channel string)) error {
	dc, release := client.Dedicate()
	defer release()
	broken := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: func(m rueidis.PubSubMessage) { deliver(m.Channel) },
		OnSubscription: func(s rueidis.PubSubSubscription) {
			if s.Kind == "psubscribe" {
				ready()
			}
		},
	})
	if err := dc.Do(ctx, dc.B().Psubscribe().Pattern(pattern).Build()).Error(); err != nil {
		return err
	}
	select {
	case err := <-broken:
		if ctx.Err() != nil {
			return nil
		}
		return err
	case <-ctx.Done():
		return nil
	}
}

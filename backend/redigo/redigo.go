// Package redigo is the core.Node adapter for github.com/gomodule/redigo.
//
//	pool := &redis.Pool{
//		MaxIdle:     16,
//		IdleTimeout: 4 * time.Minute,
//		DialContext: func(ctx context.Context) (redis.Conn, error) {
//			return redis.DialContext(ctx, "tcp", "127.0.0.1:6379", redis.DialConnectTimeout(time.Second))
//		},
//	}
//	locker, err := core.New([]core.Node{redigo.NewNodeAddr(pool, "127.0.0.1:6379")})
//
// Each call takes a connection with Pool.GetContext and runs its command
// under the call's context, so the deadline of each call, which core
// derives from its per-node timeout, bounds the network I/O itself: as a
// read deadline on the connection when only the deadline can end the
// context (see core.EndsAtDeadline), else with redis.DoContext, which
// watches the context on a goroutine of its own. A call that reaches its
// deadline closes its connection rather than return it to the pool.
//
// The pool settings that matter:
//
//   - MaxIdle: a pool keeps at most MaxIdle connections between calls. With
//     the zero value every call dials (and then closes) a connection of its
//     own, which costs a TCP handshake per command. Set it to at least the
//     number of calls you expect to run at once: a goroutine that locks in
//     a loop can have two on a node, its release's last call (Unlock
//     returns at a quorum) and its next acquisition. A connection given
//     back beyond MaxIdle is closed, and the next call dials.
//   - MaxActive with Wait: a call waits for a free connection until its
//     context ends.
//   - IdleTimeout: closes connections left idle that long, before the server
//     or something on the way drops them; an idle connection that was
//     dropped fails the one call that next takes it.
//   - DialContext rather than Dial: the call's context then bounds dialling
//     and the AUTH and SELECT that follow it. A pool with only Dial dials
//     without regard to the context, bounded only by the Dial function's own
//     options; give it redis.DialConnectTimeout (30s by default) and, when it
//     authenticates or selects a database, redis.DialReadTimeout.
//   - redis.DialReadTimeout and redis.DialWriteTimeout of the dialled
//     connections: a write timeout bounds writing each command. Core's
//     calls over several nodes carry a deadline of their own, the node
//     timeout, which bounds reading the reply (a shorter read timeout may
//     end it sooner). A lock on a single node makes its calls under the
//     caller's context: under a context without deadline, only the read
//     timeout bounds them.
//
// A pool does not know the address it dials. NewNodeAddr names the Node by
// the address you give it, so errors and events name the server; NewNode
// names it by the pool's identity. NewNodeFromURL builds a Node with a pool
// of its own from a node URL, in one of the forms of package nodeurl.
//
// redigo has no cluster or sentinel client: a Node is one server, and
// NewNodeFromURL refuses the URLs of a Redis Cluster or a Sentinel group.
// (Through the goredis or rueidis adapter, either counts as one node: its
// replication is asynchronous, so a failover can lose a lock written to
// the old master, and Redlock's safety comes from several independent
// nodes.)
package redigo

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/redlock-go/redlock/core"
)

// NewNode returns a core.Node that runs core's scripts on connections from
// pool, which must dial one Redis master. Its Addr is "redigo-" followed by
// the pool's pointer, since a pool cannot tell its address; use NewNodeAddr
// to name the server instead. The pool stays the caller's to close.
// NewNode panics if pool is nil.
func NewNode(pool *redis.Pool) core.Node {
	if pool == nil {
		panic("redlock: redigo.NewNode: nil pool")
	}
	return &node{pool: pool, addr: fmt.Sprintf("redigo-%p", pool)}
}

// NewNodeAddr is NewNode with addr, the host:port (or socket path) that
// pool dials, as the Node's Addr: errors and events then name the server.
// Two Nodes of one Locker must not share an addr. NewNodeAddr panics if
// pool is nil.
func NewNodeAddr(pool *redis.Pool, addr string) core.Node {
	if pool == nil {
		panic("redlock: redigo.NewNodeAddr: nil pool")
	}
	return &node{pool: pool, addr: addr}
}

type node struct {
	pool  *redis.Pool
	addr  string
	owned bool // the Node made the pool and closes it
}

func (n *node) Addr() string { return n.addr }

func (n *node) Eval(ctx context.Context, script *core.Script, keys, args []string) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // spare a pooled connection that DoContext would close
	}
	conn, err := n.pool.GetContext(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var argv []any
	direct := ctx.Done() == nil || core.EndsAtDeadline(ctx)
	if direct {
		// Pooled: a call made on this goroutine is done with its arguments
		// when it returns.
		p := argvPool.Get().(*[]any)
		defer func() {
			clear(*p)
			argvPool.Put(p)
		}()
		argv = appendEvalArgs((*p)[:0], script, keys, args)
		*p = argv
	} else {
		// Not pooled: a call that DoContext abandons when ctx ends goes on
		// writing its arguments in the background.
		argv = appendEvalArgs(make([]any, 0, 2+len(keys)+len(args)), script, keys, args)
	}
	v, err := do(ctx, conn, direct, "EVALSHA", argv)
	if noScript(err) {
		argv[0] = script.Source()
		v, err = do(ctx, conn, direct, "EVAL", argv)
	}
	if err == redis.ErrNil {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return normalise(v), nil
}

// argvPool holds the argument slices of direct calls (see do).
var argvPool = sync.Pool{New: func() any { s := make([]any, 0, 8); return &s }}

// do runs cmd on conn within ctx. direct says that only a deadline can end
// ctx: it has none (ctx.Done is nil), or core made it to end at its
// deadline alone (core.EndsAtDeadline). The command then runs on this
// goroutine, bounded by a read deadline at ctx's deadline; otherwise
// redis.DoContext runs it on a goroutine of its own and returns when ctx
// ends. Either way a command that times out closes its connection.
func do(ctx context.Context, conn redis.Conn, direct bool, cmd string, argv []any) (any, error) {
	if !direct {
		return redis.DoContext(conn, ctx, cmd, argv...)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return conn.Do(cmd, argv...)
	}
	timeout := time.Until(deadline)
	if timeout <= 0 {
		return nil, context.DeadlineExceeded
	}
	return redis.DoWithTimeout(conn, timeout, cmd, argv...)
}

// normalise turns redigo's reply types into core's: bulk strings ([]byte)
// become strings, arrays are normalised element by element; int64, simple
// strings and nil are core's already.
func normalise(v any) any {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalise(e)
		}
		return out
	}
	return v
}

// Listen subscribes to pattern on a connection taken from the pool for as
// long as the subscription lasts (core.Subscriber); closing it returns the
// connection to the pool unsubscribed. A pool whose connections have a read
// timeout (redis.DialReadTimeout) ends an idle subscription at each timeout,
// and core opens it again.
func (n *node) Listen(ctx context.Context, pattern string, ready func(), deliver func(channel string)) error {
	conn, err := n.pool.GetContext(ctx)
	if err != nil {
		return err
	}
	psc := redis.PubSubConn{Conn: conn}
	defer psc.Close()
	if err := psc.PSubscribe(pattern); err != nil {
		return err
	}
	for {
		switch v := psc.ReceiveContext(ctx).(type) {
		case redis.Subscription:
			if v.Kind == "psubscribe" {
				ready()
			}
		case redis.Message:
			deliver(v.Channel)
		case error:
			if ctx.Err() != nil {
				return nil
			}
			return v
		}
	}
}

// appendEvalArgs appends to out the arguments of EVALSHA for script, keys
// and args. The hash is boxed once (see core.Script.HashArg).
func appendEvalArgs(out []any, script *core.Script, keys, args []string) []any {
	out = append(out, script.HashArg(), len(keys))
	for _, k := range keys {
		out = append(out, k)
	}
	for _, a := range args {
		out = append(out, a)
	}
	return out
}

func noScript(err error) bool {
	e, ok := err.(redis.Error)
	return ok && strings.HasPrefix(string(e), "NOSCRIPT")
}

// EvalBatch pipelines every call on one connection (core.Batcher), then the
// calls that met NOSCRIPT again with EVAL.
func (n *node) EvalBatch(ctx context.Context, calls []core.Call) {
	conn, err := n.pool.GetContext(ctx)
	if err != nil {
		for i := range calls {
			calls[i].Err = err
		}
		return
	}
	defer conn.Close()
	pending := make([]int, len(calls))
	argvs := make([][]any, len(calls))
	for i, c := range calls {
		pending[i] = i
		argvs[i] = appendEvalArgs(make([]any, 0, 2+len(c.Keys)+len(c.Args)), c.Script, c.Keys, c.Args)
	}
	for cmd := "EVALSHA"; len(pending) > 0 && cmd != ""; {
		for _, i := range pending {
			if cmd == "EVAL" {
				argvs[i][0] = calls[i].Script.Source()
			}
			conn.Send(cmd, argvs[i]...)
		}
		err := conn.Flush()
		var again []int
		for _, i := range pending {
			if err != nil {
				calls[i].Reply, calls[i].Err = nil, err
				continue
			}
			v, rerr := redis.ReceiveContext(conn, ctx)
			switch {
			case cmd == "EVALSHA" && noScript(rerr):
				again = append(again, i)
			case rerr == redis.ErrNil:
				calls[i].Reply, calls[i].Err = nil, nil
			case rerr != nil:
				calls[i].Reply, calls[i].Err = nil, rerr
				if _, isReply := rerr.(redis.Error); !isReply {
					err = rerr // the connection is gone: the rest fail too
				}
			default:
				calls[i].Reply, calls[i].Err = normalise(v), nil
			}
		}
		pending = again
		if cmd == "EVALSHA" {
			cmd = "EVAL"
		} else {
			cmd = ""
		}
	}
}

// Package goredis is the core.Node adapter for github.com/redis/go-redis/v9.
//
//	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
//	locker, err := core.New([]core.Node{goredis.NewNode(client)})
//
// Give the client ContextTimeoutEnabled: true. Then the deadline of each
// call, which core derives from its per-node timeout, bounds the network
// I/O itself. A client without it reads until its ReadTimeout (3s by
// default) whatever the context says; NewNode then runs each call in a
// goroutine of its own and returns when the context ends, leaving the
// abandoned call to finish within ReadTimeout. That costs a goroutine per
// call and holds a pooled connection longer.
//
// A go-redis client that has Options.DialerRetries retries a failed dial (5
// by default, DialerRetryTimeout apart, 100ms by default): a node that
// refuses connections then counts as failed in a round only once those
// attempts are spent or the node timeout ends. A round that has its
// quorum without that node does not wait for it; a round that needs it
// does. DialerRetries: 1 makes such a node fail at once.
//
// With ContextTimeoutEnabled, a call that needs a new connection dials and
// logs in within the call's deadline, the node timeout: a connection that
// takes longer to set up (a dropped one redialled on a loaded host, TLS to
// a far server) is abandoned each time, and after a run of failed dials
// go-redis fails calls at once for a while. Under this library's fault
// campaign (connections dropped, partitions, paused servers, 100ms node
// timeouts, hand-overs, a loaded 2-core host) such clients often made no
// connection at all for the whole campaign, with MinIdleConns or without;
// clients without ContextTimeoutEnabled, whose dials have their own
// DialTimeout, acquired throughout. So give ContextTimeoutEnabled only a
// node timeout well above the time a connection takes to set up; when in
// doubt, leave it off and let NewNode bound each call (the faults tests of
// this package run that way).
//
// The Node implements core.Subscriber with a pattern subscription of its
// own, open while some Lock waits. When core closes it, go-redis may log
// "discarding bad PubSub connection" through its logger (redis.SetLogger
// silences it).
//
// A Redis Cluster (a redis.ClusterClient) or a Sentinel group (a client
// of redis.NewFailoverClient) counts as one node of a Locker. Its
// replication is asynchronous, so a failover can lose a lock written to
// the old master just before, and the promoted replica grants it again:
// Redlock's safety comes from several independent nodes, not from the
// replicas of one. Through a failover client the Node follows the master
// that the sentinels promote: go-redis moves its connections when a
// sentinel announces the new master. Some go-redis versions (v9.22.0, not
// v9.7.3) leave a subscription where it is: if the old master still runs,
// it stays there until the sentinels make that server a replica, and
// waiting Locks poll until then.
package goredis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/redis/go-redis/v9"

	"github.com/redlock-go/redlock/core"
)

// NewNode returns a core.Node that runs core's scripts through client. A
// *redis.Client is one Redis master; a cluster, failover or ring client
// counts as one Node of the Locker. The Node's Addr is the client's
// address, the seed addresses of a cluster client joined by ",", and for
// a failover or ring client, which cannot tell where it connects, a name
// unique in the process ("goredis-" and the client's pointer; NewNodeAddr
// names a Node, and NewNodeFromURL names it by its URL). NewNode panics if
// client is nil.
func NewNode(client redis.UniversalClient) core.Node {
	if client == nil {
		panic("redlock: goredis.NewNode: nil client")
	}
	n := &node{client: client, addr: fmt.Sprintf("goredis-%p", client)}
	switch c := client.(type) {
	case *redis.Client:
		n.ctxDeadlines = c.Options().ContextTimeoutEnabled
		// go-redis gives every failover client the address "FailoverClient":
		// two of them in one Locker must not look like one node.
		if addr := c.Options().Addr; addr != failoverAddr {
			n.addr = addr
		}
	case *redis.ClusterClient:
		n.addr, n.ctxDeadlines = strings.Join(c.Options().Addrs, ","), c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		n.ctxDeadlines = c.Options().ContextTimeoutEnabled
	}
	return n
}

// NewNodeAddr is NewNode with the Node named addr, for a client that
// cannot tell where it connects (a failover or ring client), or to name a
// node the same in every process (see core.Node's Addr). NewNodeAddr
// panics if client is nil.
func NewNodeAddr(client redis.UniversalClient, addr string) core.Node {
	if client == nil {
		panic("redlock: goredis.NewNodeAddr: nil client")
	}
	n := NewNode(client).(*node)
	n.addr = addr
	return n
}

// failoverAddr is the Options().Addr of a client of redis.NewFailoverClient.
const failoverAddr = "FailoverClient"

type node struct {
	client       redis.UniversalClient
	addr         string
	ctxDeadlines bool // the client bounds its I/O by the context's deadline
	owned        bool // the Node made the client and closes it
}

func (n *node) Addr() string { return n.addr }

func (n *node) Eval(ctx context.Context, script *core.Script, keys, args []string) (any, error) {
	if n.ctxDeadlines {
		return n.eval(ctx, script, keys, args)
	}
	type result struct {
		v   any
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := n.eval(ctx, script, keys, args)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (n *node) eval(ctx context.Context, script *core.Script, keys, args []string) (any, error) {
	buf := argvPool.Get().(*[]any)
	argv := evalArgs((*buf)[:0], nameEvalSha, script.HashArg(), keys, args)
	v, err := n.run(ctx, argv, len(keys))
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		argv[0], argv[1] = nameEval, script.Source()
		v, err = n.run(ctx, argv, len(keys))
	}
	clear(argv) // keep no reference to the call's strings
	*buf = argv[:0]
	argvPool.Put(buf)
	if err == redis.Nil {
		return nil, nil
	}
	return v, err
}

// run sends the command argv, whose keys start at its fourth argument.
func (n *node) run(ctx context.Context, argv []any, keys int) (any, error) {
	cmd := redis.NewCmd(ctx, argv...)
	if keys > 0 {
		cmd.SetFirstKeyPos(3) // where a cluster client finds the slot, as EvalSha has it
	}
	_ = n.client.Process(ctx, cmd)
	return cmd.Result()
}

// EvalBatch sends every call in one pipeline (core.Batcher), then the calls
// that met NOSCRIPT again with EVAL in a second one.
func (n *node) EvalBatch(ctx context.Context, calls []core.Call) {
	if !n.ctxDeadlines {
		own := slices.Clone(calls) // the abandoned pipeline keeps writing to its own copy
		done := make(chan struct{})
		go func() { n.evalBatch(ctx, own); close(done) }()
		select {
		case <-done:
			copy(calls, own)
		case <-ctx.Done():
			for i := range calls {
				calls[i].Reply, calls[i].Err = nil, ctx.Err()
			}
		}
		return
	}
	n.evalBatch(ctx, calls)
}

func (n *node) evalBatch(ctx context.Context, calls []core.Call) {
	cmds := make([]*redis.Cmd, len(calls))
	pipe := n.client.Pipeline()
	for i, c := range calls {
		cmds[i] = queue(ctx, pipe, nameEvalSha, c.Script.HashArg(), c)
	}
	_, execErr := pipe.Exec(ctx)
	var retry []int
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 {
		pipe = n.client.Pipeline()
		for _, i := range retry {
			cmds[i] = queue(ctx, pipe, nameEval, calls[i].Script.Source(), calls[i])
		}
		_, execErr = pipe.Exec(ctx)
	}
	for i, cmd := range cmds {
		v, err := cmd.Result()
		switch {
		case err == redis.Nil:
			v, err = nil, nil
		case err == nil && v == nil && execErr != nil:
			err = execErr // the pipeline failed before this command ran (no connection)
		}
		calls[i].Reply, calls[i].Err = v, err
	}
}

// queue adds c to pipe as the command name (EVALSHA or EVAL) with
// payload (the script's hash or source).
func queue(ctx context.Context, pipe redis.Pipeliner, name, payload any, c core.Call) *redis.Cmd {
	cmd := redis.NewCmd(ctx, evalArgs(make([]any, 0, 3+len(c.Keys)+len(c.Args)), name, payload, c.Keys, c.Args)...)
	if len(c.Keys) > 0 {
		cmd.SetFirstKeyPos(3)
	}
	_ = pipe.Process(ctx, cmd)
	return cmd
}

// The names of the commands, boxed once.
var nameEvalSha, nameEval any = "evalsha", "eval"

// evalArgs appends to out the arguments of EVALSHA or EVAL (name) with
// payload, keys and args, as go-redis's EvalSha has them, except that keys
// and args go by reference (see scriptArg).
func evalArgs(out []any, name, payload any, keys, args []string) []any {
	out = append(out, name, payload, len(keys))
	for i := range keys {
		out = append(out, (*scriptArg)(&keys[i]))
	}
	for i := range args {
		out = append(out, (*scriptArg)(&args[i]))
	}
	return out
}

// argvPool holds the argument slices of eval.
var argvPool = sync.Pool{New: func() any { s := make([]any, 0, 12); return &s }}

// scriptArg is a script argument that go-redis sends without the
// allocation that putting a string in an interface costs: a pointer to the
// caller's string fits in one as it is. It writes as the string's bytes
// (go-redis sends an encoding.BinaryMarshaler so) and prints as the string
// (fmt.Stringer, for hooks that log or trace commands, and for the cluster
// and ring clients, which read a command's key with fmt.Sprint when it is
// not a string).
type scriptArg string

// MarshalBinary returns the string's bytes, shared, not copied: go-redis
// only copies them into its write buffer.
func (a *scriptArg) MarshalBinary() ([]byte, error) {
	return unsafe.Slice(unsafe.StringData(string(*a)), len(*a)), nil
}

func (a *scriptArg) String() string { return string(*a) }

// Listen subscribes to pattern on a connection of its own (core.Subscriber).
func (n *node) Listen(ctx context.Context, pattern string, ready func(), deliver func(channel string)) error {
	ps := n.client.PSubscribe(ctx, pattern)
	defer ps.Close()
	stop := context.AfterFunc(ctx, func() { ps.Close() }) // a blocked receive does not watch ctx
	defer stop()
	if _, err := ps.Receive(ctx); err != nil {
		return err
	}
	ready()
	for {
		msg, err := ps.ReceiveMessage(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		deliver(msg.Channel)
	}
}

// Package valkeynode carries core's lock scripts over a valkey-go client
// (github.com/valkey-io/valkey-go), so that a core.Locker can use Valkey or
// Redis servers through it.
//
// The package is imported from github.com/redlock-go/redlock/backend/valkey
// under the name valkeynode, so that it does not clash with the client's
// own package, valkey:
//
//	import (
//		"github.com/valkey-io/valkey-go"
//		valkeynode "github.com/redlock-go/redlock/backend/valkey"
//	)
//
// NewNode wraps a valkey.Client that the application built and owns;
// NewNodeFromURL builds one from a node URL (see package nodeurl) and
// connects on first use. Either way the Node runs scripts by EVALSHA and
// falls back to EVAL when the server answers NOSCRIPT, sends a batch of
// calls in one pipeline (core.Batcher), and receives release
// notifications on a dedicated connection (core.Subscriber). Lock
// semantics live in package core.
//
// Under an ACL, the node's user needs EVALSHA and EVAL and the commands of
// core's scripts on the keys "redlock:*"; PSUBSCRIBE and PUNSUBSCRIBE with
// the channel pattern "redlock:*:released" allowed as it is (Redis matches
// a PSUBSCRIBE pattern against the user's channel patterns literally, so
// "&redlock:*" alone does not allow it); and what valkey-go sends on
// connecting (HELLO, AUTH, SELECT). When a subscription ends, valkey-go
// also sends UNSUBSCRIBE, SUNSUBSCRIBE and DISCARD on its connection; a
// user without them shows them refused in ACL LOG, and no harm comes of it.
//
// Every Node is one independent master. Redlock's safety rests on
// assumptions the deployment must keep, which package core spells out:
// clocks that do not jump, holders that check Until() and use fencing
// tokens against pauses, servers that persist their data (AOF with
// fsync=always) or stay out for longer than the longest TTL after a restart,
// and nodes that are not replicas of one another.
package valkeynode

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/valkey-io/valkey-go"

	"github.com/redlock-go/redlock/core"
)

// node is a core.Node over a valkey.Client.
type node struct {
	addr string
	// client returns the client to send to: always the same one for
	// NewNode, the one made on first use for NewNodeFromURL.
	client func(ctx context.Context) (valkey.Client, error)
}

// NewNode returns a Node that sends core's scripts through client, which
// must talk to one master: a standalone server, a Sentinel group or a
// cluster, each of which is one Redlock node. The Node's Addr is the
// address client connects to, as client.Nodes names it when NewNode is
// called (the addresses of a cluster, sorted and joined by commas).
//
// Build client with ClientOption.AlwaysPipelining set, and without
// DisableAutoPipelining: valkey-go ends a call whose context is cancelled
// before its deadline only in pipeline mode. Otherwise a call still ends
// at its context's deadline, which core always sets (the node timeout),
// but not sooner. The same holds in pipeline mode for the first calls of
// a client, while it opens its connections: a call that waits for one
// waits until its deadline or the dial timeout (ClientOption.Dialer),
// whichever comes first. Client-side caching plays no part (scripts are
// never cached), so DisableCache may be set or not.
//
// The Node implements core.Batcher and core.Subscriber. Errors come back
// as valkey-go returns them. The application keeps ownership of client:
// call Locker.Wait, then client.Close, when done.
func NewNode(client valkey.Client) core.Node {
	if client == nil {
		panic("redlock: valkeynode.NewNode with a nil client")
	}
	return &node{
		addr:   clientAddr(client),
		client: func(context.Context) (valkey.Client, error) { return client, nil },
	}
}

// clientAddr names the node that client connects to.
func clientAddr(client valkey.Client) string {
	var addrs []string
	for addr := range client.Nodes() {
		addrs = append(addrs, addr)
	}
	slices.Sort(addrs)
	return strings.Join(addrs, ",")
}

// Addr returns the address of the node, as NewNode or NewNodeFromURL
// found it.
func (n *node) Addr() string { return n.addr }

// Eval runs script with keys and args: EVALSHA first and, when the server
// answers NOSCRIPT, EVAL. The reply is normalised as core.Node requires; an
// error reply or a failed call comes back as valkey-go's error.
func (n *node) Eval(ctx context.Context, script *core.Script, keys, args []string) (any, error) {
	c, err := n.client(ctx)
	if err != nil {
		return nil, err
	}
	r := c.Do(ctx, evalsha(c, script, keys, args))
	if isNoScript(r.Error()) {
		r = c.Do(ctx, eval(c, script, keys, args))
	}
	return reply(r)
}

// EvalBatch runs calls in one pipeline (DoMulti), then the calls whose
// script the server did not have, by EVAL, in a second one.
func (n *node) EvalBatch(ctx context.Context, calls []core.Call) {
	c, err := n.client(ctx)
	if err != nil {
		for i := range calls {
			calls[i].Err = err
		}
		return
	}
	cmds := make(valkey.Commands, len(calls))
	for i, call := range calls {
		cmds[i] = evalsha(c, call.Script, call.Keys, call.Args)
	}
	var missing []int // calls that met NOSCRIPT
	for i, r := range c.DoMulti(ctx, cmds...) {
		if isNoScript(r.Error()) {
			missing = append(missing, i)
			continue
		}
		calls[i].Reply, calls[i].Err = reply(r)
	}
	if len(missing) == 0 {
		return
	}
	cmds = cmds[:0]
	for _, i := range missing {
		cmds = append(cmds, eval(c, calls[i].Script, calls[i].Keys, calls[i].Args))
	}
	for j, r := range c.DoMulti(ctx, cmds...) {
		i := missing[j]
		calls[i].Reply, calls[i].Err = reply(r)
	}
}

// errUnsubscribed is Listen's error when the server ended the subscription
// while the context was still live.
var errUnsubscribed = errors.New("redlock: the server ended the subscription")

// Listen subscribes to pattern (PSUBSCRIBE) on a connection that it holds
// alone (Client.Dedicated), calls ready when the server confirms, and
// deliver with the channel of every message, until ctx ends (it returns
// nil) or the subscription breaks (it returns the error, such as io.EOF
// when the server closed the connection). valkey-go calls ready and
// deliver on the connection's reading goroutine, one at a time.
func (n *node) Listen(ctx context.Context, pattern string, ready func(), deliver func(channel string)) error {
	c, err := n.client(ctx)
	if err != nil {
		return err
	}
	var confirmed sync.Once
	hooked := valkey.WithOnSubscriptionHook(ctx, func(s valkey.PubSubSubscription) {
		if s.Kind == "psubscribe" {
			confirmed.Do(ready)
		}
	})
	err = c.Dedicated(func(d valkey.DedicatedClient) error {
		return d.Receive(hooked, d.B().Psubscribe().Pattern(pattern).Build(), func(m valkey.PubSubMessage) {
			deliver(m.Channel)
		})
	})
	switch {
	case ctx.Err() != nil:
		return nil
	case err == nil:
		return errUnsubscribed
	}
	return err
}

// evalsha builds EVALSHA for script.
func evalsha(c valkey.Client, script *core.Script, keys, args []string) valkey.Completed {
	return c.B().Evalsha().Sha1(script.Hash()).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
}

// eval builds EVAL for script.
func eval(c valkey.Client, script *core.Script, keys, args []string) valkey.Completed {
	return c.B().Eval().Script(script.Source()).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
}

// isNoScript reports whether err is the server's NOSCRIPT reply.
func isNoScript(err error) bool {
	ve, ok := valkey.IsValkeyErr(err)
	return ok && ve.IsNoScript()
}

// reply returns r's value as core.Node requires: int64, string, []any or
// nil, with a nil reply as a value, not an error.
func reply(r valkey.ValkeyResult) (any, error) {
	v, err := r.ToAny()
	if valkey.IsValkeyNil(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return normalise(v), nil
}

// normalise turns what a RESP3 connection may add to a script's reply
// into what RESP2 gives: a boolean true becomes 1 and false nil, as Redis
// converts Lua booleans; arrays are normalised element by element.
func normalise(v any) any {
	switch v := v.(type) {
	case bool:
		if v {
			return int64(1)
		}
		return nil
	case []any:
		for i, e := range v {
			v[i] = normalise(e)
		}
		return v
	}
	return v
}

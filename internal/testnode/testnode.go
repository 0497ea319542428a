// Package testnode is the smallest core.Node there is, over plain RESP
// connections to a real redis-server, for the tests of core itself; and a
// wrapper around any Node that runs a script and then delays, holds or
// drops its reply, so that a test can place a late or lost reply at one
// precise moment of a round instead of hoping that real latency does.
//
// It is not an adapter for applications: it has no TLS, no AUTH and no
// tuning, and it exists so that core's tests need no Redis client.
package testnode

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

// Node runs core's scripts on a redis-server over a small pool of RESP
// connections. It implements core.Subscriber.
type Node struct {
	addr string

	mu     sync.Mutex
	idle   []*conformance.Conn
	closed bool
}

// New returns a Node for the redis-server at addr (host:port). It connects
// on first use.
func New(addr string) *Node { return &Node{addr: addr} }

// Harness builds a Node for each server of a conformance fixture and closes
// it at the test's end.
var Harness = conformance.HarnessFunc(func(t testing.TB, addr string) core.Node {
	n := New(addr)
	t.Cleanup(n.Close)
	return n
})

// Addr returns the server's address.
func (n *Node) Addr() string { return n.addr }

// Eval runs script with EVALSHA, and EVAL when the server answers NOSCRIPT.
func (n *Node) Eval(ctx context.Context, script *core.Script, keys, args []string) (any, error) {
	c, err := n.get()
	if err != nil {
		return nil, err
	}
	defer n.put(c)
	argv := make([]string, 0, 3+len(keys)+len(args))
	argv = append(argv, "EVALSHA", script.Hash(), strconv.Itoa(len(keys)))
	argv = append(argv, keys...)
	argv = append(argv, args...)
	v, err := c.Do(ctx, argv...)
	if re, ok := err.(conformance.RedisError); ok && strings.HasPrefix(string(re), "NOSCRIPT") {
		argv[0], argv[1] = "EVAL", script.Source()
		v, err = c.Do(ctx, argv...)
	}
	return v, err
}

// Listen subscribes to pattern on a connection of its own (core.Subscriber).
func (n *Node) Listen(ctx context.Context, pattern string, ready func(), deliver func(channel string)) error {
	c := conformance.Dial(n.addr)
	defer c.Close()
	return c.Subscribe(ctx, pattern, ready, deliver)
}

var errClosed = errors.New("testnode: closed")

func (n *Node) get() (*conformance.Conn, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, errClosed
	}
	if k := len(n.idle); k > 0 {
		c := n.idle[k-1]
		n.idle = n.idle[:k-1]
		return c, nil
	}
	return conformance.Dial(n.addr), nil
}

func (n *Node) put(c *conformance.Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || len(n.idle) >= 16 {
		c.Close()
		return
	}
	n.idle = append(n.idle, c)
}

// Close closes the pooled connections; later calls fail.
func (n *Node) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	for _, c := range n.idle {
		c.Close()
	}
	n.idle = nil
}

var _ core.Subscriber = (*Node)(nil)

// CloseIdle closes the pooled connections, so that the next calls dial
// anew: after a server restart, a test that is not about broken
// connections uses it to start from fresh ones.
func (n *Node) CloseIdle() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.idle {
		c.Close()
	}
	n.idle = nil
}

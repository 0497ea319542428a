package rueidis

import (
	"context"
	"crypto/tls"
	"net"
	"sync"

	"github.com/redis/rueidis"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/nodeurl"
)

// DefaultURL is the node NewNodeFromURL connects to for an empty URL.
const DefaultURL = nodeurl.Default

// NewNodeFromURL returns a Node with a client of its own for rawURL, in one
// of the forms of package nodeurl: redis://[[user]:password@]host[:port][/db],
// rediss:// for TLS (verifying the host's certificate),
// unix://[[user]:password@]/path/to/socket[?db=N], or a bare host:port; an
// empty rawURL means nodeurl.Default. A URL it cannot use is a
// *nodeurl.Error, whose text hides the password, and no Node. The client
// has DisableCache set: the lock scripts never use client-side caching.
//
// A URL with addr= parameters names a cluster: the client is a cluster
// client seeded with the URL's addresses (redis://host:port?addr=host:port).
// A URL with master_name= (or master_set=) names a Sentinel group: the
// client asks the URL's sentinels, without credentials, where the master
// is (Sentinel.MasterSet), and logs in to the master with the URL's user,
// password and database (redis://host:port?master_name=NAME&addr=host:port).
// With rediss://, both verify each server they dial. Either counts as one
// node (see the package doc).
//
// The Node's Addr is nodeurl.Config.NodeAddr, known before any
// connection: the URL's host:port (or socket path); for a cluster, its
// seed addresses joined by ","; for a Sentinel group, the master name and
// the sentinels' addresses, as in "mymaster(10.0.0.1:26379,10.0.0.2:26379)". rueidis.NewClient connects at once and fails if the
// server is down, so the Node makes its client on first use: a call with
// no client yet starts one connection attempt, or joins the one in flight,
// and waits for it until the call's context ends. If the attempt fails the
// call fails with its error, a failed node for this round, and the next
// call tries again. An attempt that outlives its call keeps running, bounded
// by the client's dial timeout (5s, for the connection and again for its
// handshake), and a client it makes serves the next call. Once made, the
// client reconnects by itself.
//
// The Node implements io.Closer. Close waits for a connection attempt in
// flight, closes the client, and makes later calls fail with
// rueidis.ErrClosing.
func NewNodeFromURL(rawURL string) (core.Node, error) {
	c, err := nodeurl.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	opt := rueidis.ClientOption{
		InitAddress:  c.Addrs,
		Username:     c.Username,
		Password:     c.Password,
		SelectDB:     c.DB,
		TLSConfig:    c.TLSConfig(),
		DisableCache: true,
	}
	if c.MasterName != "" {
		opt.Sentinel = rueidis.SentinelOption{MasterSet: c.MasterName, TLSConfig: c.TLSConfig()}
	}
	if c.Network == "unix" {
		opt.DialCtxFn = func(ctx context.Context, path string, dialer *net.Dialer, _ *tls.Config) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", path)
		}
	}
	return &urlNode{opt: opt, addr: c.NodeAddr()}, nil
}

// urlNode is a Node that makes its client on first use.
type urlNode struct {
	opt  rueidis.ClientOption
	addr string

	mu      sync.Mutex
	client  rueidis.Client // nil until a connection attempt succeeds
	attempt *attempt       // the connection attempt in flight, or nil
	closed  bool
}

// attempt is one call of rueidis.NewClient; done is closed when it ends.
type attempt struct {
	done   chan struct{}
	client rueidis.Client
	err    error
}

func (n *urlNode) Addr() string { return n.addr }

func (n *urlNode) Eval(ctx context.Context, script *core.Script, keys, args []string) (any, error) {
	client, err := n.connect(ctx)
	if err != nil {
		return nil, err
	}
	return eval(ctx, client, script, keys, args)
}

// EvalBatch is node.EvalBatch on the Node's client (core.Batcher).
func (n *urlNode) EvalBatch(ctx context.Context, calls []core.Call) {
	client, err := n.connect(ctx)
	if err != nil {
		for i := range calls {
			calls[i].Reply, calls[i].Err = nil, err
		}
		return
	}
	evalBatch(ctx, client, calls)
}

// connect returns the Node's client, making it if there is none yet.
func (n *urlNode) connect(ctx context.Context) (rueidis.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, rueidis.ErrClosing
	}
	if n.client != nil {
		client := n.client
		n.mu.Unlock()
		return client, nil
	}
	a := n.attempt
	if a == nil {
		a = &attempt{done: make(chan struct{})}
		n.attempt = a
		go n.dial(a)
	}
	n.mu.Unlock()
	select {
	case <-a.done:
		return a.client, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// dial runs the connection attempt a and records its outcome.
func (n *urlNode) dial(a *attempt) {
	client, err := rueidis.NewClient(n.opt)
	n.mu.Lock()
	n.attempt = nil
	closed := n.closed
	if err == nil && !closed {
		n.client = client
	}
	n.mu.Unlock()
	if err == nil && closed {
		client.Close()
		client, err = nil, rueidis.ErrClosing
	}
	a.client, a.err = client, err
	close(a.done)
}

// Close waits for a connection attempt in flight, then closes the client
// the Node made, if any. Calls after Close fail with rueidis.ErrClosing.
func (n *urlNode) Close() error {
	n.mu.Lock()
	n.closed = true
	client, a := n.client, n.attempt
	n.client = nil
	n.mu.Unlock()
	if a != nil {
		<-a.done // the attempt sees closed and closes its own client
	}
	if client != nil {
		client.Close()
	}
	return nil
}

// Listen subscribes to pattern once the Node has a client (core.Subscriber).
func (n *urlNode) Listen(ctx context.Context, pattern string, ready func(), deliver func(channel string)) error {
	client, err := n.connect(ctx)
	if err != nil {
		return err
	}
	return listen(ctx, client, pattern, ready, deliver)
}

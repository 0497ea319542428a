package valkeynode

import (
	"context"
	"crypto/tls"
	"net"
	"sync"

	"github.com/valkey-io/valkey-go"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/nodeurl"
)

// NewNodeFromURL returns a Node for the server that rawURL names, in one
// of the forms of package nodeurl: redis://[[user]:password@]host[:port][/db],
// rediss:// for TLS (the server's certificate is verified), unix:// for a
// socket, or a bare host:port; an empty rawURL means nodeurl.Default. Its
// Addr is nodeurl.Config.NodeAddr: the host:port, or the socket path; for
// a cluster, its seed addresses joined by ","; for a Sentinel group, the
// master name and the sentinels, as in "mymaster(10.0.0.1:26379,...)".
//
// A URL with addr= parameters names a Redis Cluster (the client is seeded
// with its addresses), one with master_name= a Sentinel group (the client
// asks the URL's sentinels, without credentials, where the master is, and
// logs in to the master with the URL's user, password and database).
// Either counts as one node (see NewNode).
//
// It does not touch the network: the Node makes its valkey.Client on first
// use, and again on a later use when that failed (the server was down, or
// refused the login), each attempt bounded by the calling context. The
// client is in pipeline mode (AlwaysPipelining, see NewNode), without
// client-side caching (DisableCache); for one server it is a single-server
// client (ClientOption.ForceSingleClient).
//
// The Node also implements io.Closer: Close closes its client, after
// which every call fails with valkey.ErrClosing. Call Locker.Wait first.
//
// A URL that nodeurl refuses gives its *nodeurl.Error, and no Node. No
// error shows the password.
func NewNodeFromURL(rawURL string) (core.Node, error) {
	cfg, err := nodeurl.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	lc := &lazyClient{option: clientOption(cfg)}
	return &urlNode{node: &node{addr: cfg.NodeAddr(), client: lc.get}, lazy: lc}, nil
}

// clientOption returns the options of the client for cfg.
func clientOption(cfg *nodeurl.Config) valkey.ClientOption {
	opt := valkey.ClientOption{
		InitAddress:      []string{cfg.Addr},
		Username:         cfg.Username,
		Password:         cfg.Password,
		SelectDB:         cfg.DB,
		TLSConfig:        cfg.TLSConfig(),
		AlwaysPipelining: true,
		DisableCache:     true,
	}
	switch {
	case cfg.MasterName != "":
		opt.InitAddress = cfg.Addrs
		opt.Sentinel = valkey.SentinelOption{MasterSet: cfg.MasterName, TLSConfig: cfg.TLSConfig()}
	case cfg.Cluster():
		opt.InitAddress = cfg.Addrs
	default:
		opt.ForceSingleClient = true
	}
	if cfg.Network == "unix" {
		opt.DialCtxFn = func(ctx context.Context, path string, d *net.Dialer, _ *tls.Config) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		}
	}
	return opt
}

// urlNode is the Node of NewNodeFromURL: a node whose client it owns.
type urlNode struct {
	*node
	lazy *lazyClient
}

// Close closes the Node's client, if it made one. Calls after Close fail
// with valkey.ErrClosing.
func (n *urlNode) Close() error {
	n.lazy.close()
	return nil
}

// lazyClient makes a valkey.Client on first use. valkey.NewClient dials
// the server and fails when it cannot, so it runs only when a call needs
// the client, in a goroutine of its own that callers wait for no longer
// than their contexts allow.
type lazyClient struct {
	option valkey.ClientOption

	mu      sync.Mutex
	client  valkey.Client // nil until an attempt succeeds
	attempt *attempt      // the attempt under way, if any
	closed  bool
}

// attempt is one call of valkey.NewClient; done is closed when it returns.
type attempt struct {
	done chan struct{}
	err  error
}

// get returns the client, making it first if need be. It fails with the
// error of the attempt it waited for, or with ctx's error.
func (l *lazyClient) get(ctx context.Context) (valkey.Client, error) {
	l.mu.Lock()
	switch {
	case l.client != nil:
		c := l.client
		l.mu.Unlock()
		return c, nil
	case l.closed:
		l.mu.Unlock()
		return nil, valkey.ErrClosing
	case l.attempt == nil:
		l.attempt = &attempt{done: make(chan struct{})}
		go l.connect(l.attempt)
	}
	a := l.attempt
	l.mu.Unlock()

	select {
	case <-a.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if a.err != nil {
		return nil, a.err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client == nil { // closed meanwhile
		return nil, valkey.ErrClosing
	}
	return l.client, nil
}

// connect makes the client for attempt a.
func (l *lazyClient) connect(a *attempt) {
	c, err := valkey.NewClient(l.option)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil:
		if c != nil { // a client that failed to dial may come back too
			c.Close()
		}
		a.err = err
	case l.closed:
		c.Close()
	default:
		l.client = c
	}
	l.attempt = nil
	close(a.done)
}

// close closes the client, and the one an attempt under way makes.
func (l *lazyClient) close() {
	l.mu.Lock()
	c := l.client
	l.client, l.closed = nil, true
	l.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

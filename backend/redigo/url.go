package redigo

import (
	"context"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/nodeurl"
)

// DefaultURL is the node NewNodeFromURL connects to for an empty URL.
const DefaultURL = nodeurl.Default

// NewNodeFromURL returns a Node with a pool of its own for rawURL, in one
// of the forms of package nodeurl: redis://[[user]:password@]host[:port][/db],
// rediss:// for TLS (verifying the host's certificate),
// unix://[[user]:password@]/path/to/socket[?db=N], or a bare host:port; an
// empty rawURL means nodeurl.Default. A URL it cannot use is a
// *nodeurl.Error, whose text hides the password, and no Node. redigo has
// no cluster or sentinel client, so a URL that names a cluster (addr=) or
// a Sentinel group (master_name=) is such a URL: the goredis and rueidis
// adapters read them.
//
// The Node's Addr is the URL's host:port, or its socket path. The pool
// keeps up to 16 idle connections for 4 minutes and dials with the call's
// context, so the call's deadline bounds dialling, the TLS handshake and
// the AUTH and SELECT that follow.
//
// The server need not be up: the pool dials on first use and again after a
// failure; until then the Node fails its calls and counts as a failed node
// in each round. The Node implements io.Closer, which closes its pool.
func NewNodeFromURL(rawURL string) (core.Node, error) {
	c, err := nodeurl.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	switch {
	case c.MasterName != "":
		return nil, nodeurl.NewError(rawURL, "names a Sentinel group (master_name=), and redigo has no sentinel client: use the goredis or rueidis adapter")
	case len(c.Addrs) > 1:
		return nil, nodeurl.NewError(rawURL, "names a cluster (addr=), and redigo has no cluster client: use the goredis or rueidis adapter")
	}
	opts := []redis.DialOption{redis.DialDatabase(c.DB)}
	if c.Username != "" {
		opts = append(opts, redis.DialUsername(c.Username))
	}
	if c.Password != "" {
		opts = append(opts, redis.DialPassword(c.Password))
	}
	if c.TLS {
		opts = append(opts, redis.DialUseTLS(true), redis.DialTLSConfig(c.TLSConfig()))
	}
	dial := func(ctx context.Context) (redis.Conn, error) {
		opts := opts
		if deadline, ok := ctx.Deadline(); ok && c.TLS {
			// redigo bounds a TLS handshake by its own timeout, not by ctx.
			opts = append(opts[:len(opts):len(opts)], redis.DialTLSHandshakeTimeout(max(time.Until(deadline), time.Nanosecond)))
		}
		return redis.DialContext(ctx, c.Network, c.Addr, opts...)
	}
	pool := &redis.Pool{MaxIdle: 16, IdleTimeout: 4 * time.Minute, DialContext: dial}
	return &node{pool: pool, addr: c.Addr, owned: true}, nil
}

// Close closes the pool of a Node made by NewNodeFromURL. A Node made by
// NewNode or NewNodeAddr leaves its pool to its owner and returns nil.
func (n *node) Close() error {
	if !n.owned {
		return nil
	}
	return n.pool.Close()
}

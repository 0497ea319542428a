package goredis

import (
	"github.com/redis/go-redis/v9"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/nodeurl"
)

// DefaultURL is the node NewNodeFromURL connects to for an empty URL.
const DefaultURL = nodeurl.Default

// ParseURL returns the client options for a node URL in one of the forms
// of package nodeurl: redis://[[user]:password@]host[:port][/db],
// rediss:// for TLS, unix://[[user]:password@]/path/to/socket[?db=N], or a
// bare host:port; an empty rawURL means nodeurl.Default. The options have
// ContextTimeoutEnabled set, and TLSConfig verifying the host for
// rediss://. A URL it cannot use is a *nodeurl.Error, whose text hides the
// password.
func ParseURL(rawURL string) (*redis.Options, error) {
	c, err := nodeurl.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	return &redis.Options{
		Network:               c.Network,
		Addr:                  c.Addr,
		Username:              c.Username,
		Password:              c.Password,
		DB:                    c.DB,
		TLSConfig:             c.TLSConfig(),
		ContextTimeoutEnabled: true,
	}, nil
}

// NewNodeFromURL returns a Node with a client of its own, made from
// ParseURL(rawURL); its errors are ParseURL's. The Node's Addr is the URL's
// host:port, or its socket path.
//
// The server need not be up: the client connects on first use and
// reconnects after failures; until then the Node fails its calls and
// counts as a failed node in each round. The Node implements io.Closer,
// which closes its client.
func NewNodeFromURL(rawURL string) (core.Node, error) {
	opts, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	n := NewNode(redis.NewClient(opts)).(*node)
	n.owned = true
	return n, nil
}

// Close closes the client of a Node made by NewNodeFromURL. A Node made by
// NewNode leaves its client to its owner and returns nil.
func (n *node) Close() error {
	if !n.owned {
		return nil
	}
	return n.client.Close()
}

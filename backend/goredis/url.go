package goredis

import (
	"github.com/redis/go-redis/v9"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/nodeurl"
)

// DefaultURL is the node NewNodeFromURL connects to for an empty URL.
const DefaultURL = nodeurl.Default

// ParseURL returns the client options for a node URL that names one
// server, in one of the forms of package nodeurl:
// redis://[[user]:password@]host[:port][/db], rediss:// for TLS,
// unix://[[user]:password@]/path/to/socket[?db=N], or a bare host:port; an
// empty rawURL means nodeurl.Default. The options have
// ContextTimeoutEnabled set, and TLSConfig verifying the host for
// rediss://. A URL it cannot use is a *nodeurl.Error, whose text hides the
// password; so is a URL that names a cluster or a Sentinel group, which
// redis.Options cannot describe (NewClientFromURL reads those).
func ParseURL(rawURL string) (*redis.Options, error) {
	c, err := nodeurl.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if len(c.Addrs) > 1 || c.MasterName != "" {
		return nil, nodeurl.NewError(rawURL, "names a cluster or a Sentinel group, which redis.Options cannot describe: use goredis.NewClientFromURL")
	}
	return options(c), nil
}

// options returns the client options for c, which names one server.
func options(c *nodeurl.Config) *redis.Options {
	return &redis.Options{
		Network:               c.Network,
		Addr:                  c.Addr,
		Username:              c.Username,
		Password:              c.Password,
		DB:                    c.DB,
		TLSConfig:             c.TLSConfig(),
		ContextTimeoutEnabled: true,
	}
}

// NewClientFromURL returns a new client for rawURL, in any of the forms of
// package nodeurl: a *redis.Client with ParseURL's options for one server;
// a *redis.ClusterClient seeded with the URL's addresses for a cluster
// (redis://host:port?addr=host:port...); a failover client
// (redis.NewFailoverClient, a *redis.Client) for a Sentinel group
// (redis://host:port?master_name=NAME[&addr=host:port]...), which asks the
// URL's sentinels, without credentials, where the master is and logs in to
// the master with the URL's user and password. Every client has
// ContextTimeoutEnabled set and, for rediss://, TLS that verifies each
// server it dials. A URL it cannot use is a *nodeurl.Error, whose text
// hides the password. The client connects on first use.
func NewClientFromURL(rawURL string) (redis.UniversalClient, error) {
	c, err := nodeurl.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	return newClient(c), nil
}

func newClient(c *nodeurl.Config) redis.UniversalClient {
	switch {
	case c.MasterName != "":
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:            c.MasterName,
			SentinelAddrs:         c.Addrs,
			Username:              c.Username,
			Password:              c.Password,
			DB:                    c.DB,
			TLSConfig:             c.TLSConfig(),
			ContextTimeoutEnabled: true,
		})
	case c.Cluster():
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:                 c.Addrs,
			Username:              c.Username,
			Password:              c.Password,
			TLSConfig:             c.TLSConfig(),
			ContextTimeoutEnabled: true,
		})
	}
	return redis.NewClient(options(c))
}

// NewNodeFromURL returns a Node with a client of its own, made as
// NewClientFromURL makes it; its errors are NewClientFromURL's. The Node's
// Addr is nodeurl.Config.NodeAddr: the URL's host:port, or its socket
// path; for a cluster, its seed addresses joined by ","; for a Sentinel
// group, the master name and the sentinels' addresses, as in
// "mymaster(10.0.0.1:26379,10.0.0.2:26379)". A cluster or a Sentinel group
// counts as one node (see the package doc).
//
// The server need not be up: the client connects on first use and
// reconnects after failures; until then the Node fails its calls and
// counts as a failed node in each round. The Node implements io.Closer,
// which closes its client.
func NewNodeFromURL(rawURL string) (core.Node, error) {
	c, err := nodeurl.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	n := NewNodeAddr(newClient(c), c.NodeAddr()).(*node)
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

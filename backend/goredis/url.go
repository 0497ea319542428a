package goredis

import (
	"fmt"
	"net/url"

	"github.com/redis/go-redis/v9"

	"github.com/redlock-go/redlock/core"
)

// DefaultURL is the node NewNodeFromURL connects to for an empty URL.
const DefaultURL = "redis://127.0.0.1:6379/0"

// NewNodeFromURL returns a Node with a client of its own for rawURL:
// redis://[user:password@]host:port[/db], rediss:// for TLS, or
// unix://[user:password@]/path/to/socket[?db=N]. An empty rawURL means
// DefaultURL. The client has ContextTimeoutEnabled set.
//
// The server need not be up: the client connects on first use and
// reconnects after failures; until then the Node fails its calls and
// counts as a failed node in each round. The Node implements io.Closer,
// which closes its client.
func NewNodeFromURL(rawURL string) (core.Node, error) {
	if rawURL == "" {
		rawURL = DefaultURL
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redlock: goredis: node URL %q: %w", redacted(rawURL), err)
	}
	opts.ContextTimeoutEnabled = true
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

// redacted hides the password of a URL for error messages.
func redacted(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

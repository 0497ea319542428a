package redigo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/redlock-go/redlock/core"
)

// DefaultURL is the node NewNodeFromURL connects to for an empty URL.
const DefaultURL = "redis://127.0.0.1:6379/0"

// NewNodeFromURL returns a Node with a pool of its own for rawURL:
// redis://[user:password@]host:port[/db], rediss:// for TLS, or
// unix://[user:password@]/path/to/socket[?db=N]. An empty rawURL means
// DefaultURL. The Node's Addr is the URL's host:port, or its socket path.
// The pool keeps up to 16 idle connections for 4 minutes and dials with the
// call's context, so the call's deadline bounds dialling, the TLS handshake
// and the AUTH and SELECT that follow.
//
// It returns an error, prefixed "redlock: redigo: ", for a URL it cannot
// use: one that does not parse, another scheme, a bad database number, or
// query parameters other than db on a unix:// URL (a redis:// URL names its
// database in the path and takes none).
//
// The server need not be up: the pool dials on first use and again after a
// failure; until then the Node fails its calls and counts as a failed node
// in each round. The Node implements io.Closer, which closes its pool.
func NewNodeFromURL(rawURL string) (core.Node, error) {
	if rawURL == "" {
		rawURL = DefaultURL
	}
	fail := func(format string, a ...any) (core.Node, error) {
		return nil, fmt.Errorf("redlock: redigo: node URL %q: "+format, append([]any{rawURL}, a...)...)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err // the URL is in the message already
		}
		return fail("%w", err)
	}
	var (
		addr string
		dial func(ctx context.Context) (redis.Conn, error)
	)
	switch u.Scheme {
	case "redis", "rediss":
		if u.RawQuery != "" {
			return fail("query parameters are not supported; give the database in the path: redis://host:port/db")
		}
		if addr, err = dialURLAddr(rawURL); err != nil {
			return fail("%w", err)
		}
		dial = func(ctx context.Context) (redis.Conn, error) {
			var opts []redis.DialOption
			if deadline, ok := ctx.Deadline(); ok {
				// redigo bounds a TLS handshake by its own timeout, not by ctx.
				opts = append(opts, redis.DialTLSHandshakeTimeout(time.Until(deadline)))
			}
			return redis.DialURLContext(ctx, rawURL, opts...)
		}
	case "unix":
		if u.Host != "" || u.Path == "" {
			return fail("want unix:///path/to/socket, with three slashes")
		}
		opts, err := unixOptions(u)
		if err != nil {
			return fail("%w", err)
		}
		path := u.Path
		addr = path
		dial = func(ctx context.Context) (redis.Conn, error) { return redis.DialContext(ctx, "unix", path, opts...) }
	default:
		return fail("scheme %q: want redis, rediss or unix", u.Scheme)
	}
	pool := &redis.Pool{MaxIdle: 16, IdleTimeout: 4 * time.Minute, DialContext: dial}
	return &node{pool: pool, addr: addr, owned: true}, nil
}

var errAddrOnly = errors.New("address found")

// dialURLAddr returns the address redis.DialURL would connect to for
// rawURL, or its error for a URL it rejects, without connecting: DialURL
// stays the one reader of redis:// URLs.
func dialURLAddr(rawURL string) (string, error) {
	var addr string
	_, err := redis.DialURL(rawURL, redis.DialContextFunc(func(_ context.Context, _, a string) (net.Conn, error) {
		addr = a
		return nil, errAddrOnly
	}))
	if err != errAddrOnly {
		return "", err
	}
	return addr, nil
}

// unixOptions reads the credentials and database of a unix:// URL, with
// redis.DialURL's reading of the user part: user:password for an ACL user,
// :password or a lone password for requirepass.
func unixOptions(u *url.URL) ([]redis.DialOption, error) {
	var opts []redis.DialOption
	if u.User != nil {
		user := u.User.Username()
		password, ok := u.User.Password()
		switch {
		case ok && user != "":
			opts = append(opts, redis.DialUsername(user), redis.DialPassword(password))
		case ok:
			opts = append(opts, redis.DialPassword(password))
		case user != "":
			opts = append(opts, redis.DialPassword(user))
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, err
	}
	for k, v := range q {
		if k != "db" || len(v) != 1 {
			return nil, fmt.Errorf("query parameter %q: only one db=N is supported", k)
		}
		db, err := strconv.Atoi(v[0])
		if err != nil || db < 0 {
			return nil, fmt.Errorf("invalid database %q", v[0])
		}
		opts = append(opts, redis.DialDatabase(db))
	}
	return opts, nil
}

// Close closes the pool of a Node made by NewNodeFromURL. A Node made by
// NewNode or NewNodeAddr leaves its pool to its owner and returns nil.
func (n *node) Close() error {
	if !n.owned {
		return nil
	}
	return n.pool.Close()
}

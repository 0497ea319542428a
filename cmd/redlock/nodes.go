package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlock-go/redlock/backend/goredis"
	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/nodeurl"
)

// nodesEnv names the environment variable read when --nodes is not given.
const nodesEnv = "REDLOCK_NODES"

// probeTimeout bounds the check that the nodes answer, and each status read.
const probeTimeout = 3 * time.Second

// node is one node of the lock as the tool sees it: a Redis master, a
// Redis Cluster or a Sentinel group, through one go-redis client, used
// both for the tool's own reads (PING, status) and, wrapped by the goredis
// adapter, for the lock itself, so the first lock round finds a warm
// connection.
type node struct {
	client redis.UniversalClient
	addr   string // what the node is called: its URL's nodeurl.Config.NodeAddr
	lock   core.Node
}

// nodeList returns the node URLs to use: flagValue when set, else
// $REDLOCK_NODES, else nodeurl.Default.
func nodeList(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if env := os.Getenv(nodesEnv); env != "" {
		return env
	}
	return nodeurl.Default
}

// openNodes makes a node for every URL in list, a comma-separated list of
// node URLs in the forms of package nodeurl, whose clients
// goredis.NewClientFromURL makes: redis://[[user]:password@]host[:port][/db],
// rediss:// (TLS), unix://[[user]:password@]/path/to/socket[?db=N], a bare
// host:port, a cluster as redis://host:port?addr=host:port..., or a
// Sentinel group as redis://host:port?master_name=NAME[&addr=host:port]...
// (the addresses of a URL are separated by "&addr=", never by a comma).
// Two URLs that name the same server, or the same Sentinel group, are an
// error. No error shows a password. It does not connect: clients connect
// on first use.
func openNodes(list string) ([]*node, error) {
	var nodes []*node
	seen := map[string]bool{}
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			closeNodes(nodes)
			return nil, errors.New("empty node URL in the list (two commas in a row, or a comma at an end)")
		}
		raw = withTLSFiles(raw)
		c, err := nodeurl.Parse(raw)
		if err != nil {
			closeNodes(nodes)
			var ue *nodeurl.Error
			if errors.As(err, &ue) { // without its "redlock: " prefix, which the tool's messages have already
				err = fmt.Errorf("node URL %q: %s", ue.URL, ue.Reason)
			}
			return nil, err
		}
		for _, addr := range c.Addrs {
			what, key := "server", addr
			if c.MasterName != "" {
				what, key = "Sentinel group", c.MasterName+" at "+addr
			}
			if seen[key] {
				closeNodes(nodes)
				return nil, fmt.Errorf("two node URLs name the same %s %s: the nodes must be independent", what, key)
			}
			seen[key] = true
		}
		client, err := goredis.NewClientFromURL(raw)
		if err != nil { // not reached: nodeurl.Parse accepted raw
			closeNodes(nodes)
			return nil, err
		}
		addr := c.NodeAddr()
		nodes = append(nodes, &node{client: client, addr: addr, lock: goredis.NewNodeAddr(client, addr)})
	}
	return nodes, nil
}

// tlsEnv maps the environment variables that give every rediss:// node
// its TLS files to the URL parameters they stand for (see package
// nodeurl).
var tlsEnv = [][2]string{{"REDLOCK_TLS_CA", "tls_ca"}, {"REDLOCK_TLS_CERT", "tls_cert"}, {"REDLOCK_TLS_KEY", "tls_key"}}

// withTLSFiles returns raw with the TLS parameters of the variables of
// tlsEnv that are set added, when raw is a rediss:// URL that does not
// give them itself.
func withTLSFiles(raw string) string {
	if !strings.HasPrefix(strings.ToLower(raw), "rediss://") {
		return raw
	}
	for _, e := range tlsEnv {
		v := os.Getenv(e[0])
		if v == "" || strings.Contains(raw, "?"+e[1]+"=") || strings.Contains(raw, "&"+e[1]+"=") {
			continue
		}
		sep := "?"
		if strings.Contains(raw, "?") {
			sep = "&"
		}
		raw += sep + e[1] + "=" + url.QueryEscape(v)
	}
	return raw
}

// closeNodes closes the nodes' clients.
func closeNodes(nodes []*node) {
	for _, n := range nodes {
		n.client.Close()
	}
}

// lockNodes returns the nodes as core sees them, for core.New.
func lockNodes(nodes []*node) []core.Node {
	out := make([]core.Node, len(nodes))
	for i, n := range nodes {
		out[i] = n.lock
	}
	return out
}

// quorum is the number of nodes that must agree: N/2+1.
func quorum(n int) int { return n/2 + 1 }

// ping sends PING to every node in parallel, each bounded by timeout, and
// returns one error per node: nil for a node that answered.
func ping(ctx context.Context, nodes []*node, timeout time.Duration) []error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			errs[i] = n.client.Ping(ctx).Err()
		}()
	}
	wg.Wait()
	return errs
}

// errUnreachable is the error of a check that found too few nodes answering.
var errUnreachable = errors.New("cannot reach a quorum of the nodes")

// checkNodes pings the nodes. It returns an error wrapping errUnreachable,
// naming every node that did not answer, when fewer than a quorum answered;
// otherwise the nodes that did not answer, as warnings.
func checkNodes(ctx context.Context, nodes []*node) (warnings []string, err error) {
	errs := ping(ctx, nodes, probeTimeout)
	up := 0
	for i, e := range errs {
		if e == nil {
			up++
			continue
		}
		warnings = append(warnings, fmt.Sprintf("node %s does not answer: %v", nodes[i].addr, e))
	}
	if up < quorum(len(nodes)) {
		return nil, fmt.Errorf("%w (%d of %d answer, %d needed):\n  %s",
			errUnreachable, up, len(nodes), quorum(len(nodes)), strings.Join(warnings, "\n  "))
	}
	return warnings, nil
}

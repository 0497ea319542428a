package goredis_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redlock-go/redlock/backend/goredis"
	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

// clusterHarness builds Nodes over go-redis cluster clients, with the
// options the package doc advises.
func clusterHarness(t testing.TB, addrs []string) core.Node {
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true, MinIdleConns: 2})
	t.Cleanup(func() { client.Close() })
	return goredis.NewNode(client)
}

func TestCluster(t *testing.T) {
	conformance.RunCluster(t, conformance.ClusterHarnessFunc(clusterHarness))
}

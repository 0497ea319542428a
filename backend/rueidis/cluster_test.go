package rueidis

import (
	"testing"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

// clusterHarness builds Nodes over rueidis cluster clients: rueidis finds
// the cluster from any of its seeds.
func clusterHarness(t testing.TB, addrs []string) core.Node {
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs, DisableCache: true})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	return NewNode(client)
}

func TestCluster(t *testing.T) {
	conformance.RunCluster(t, conformance.ClusterHarnessFunc(clusterHarness))
}

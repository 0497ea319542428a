package rueidis

import (
	"testing"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

// sentinelHarness builds Nodes over rueidis sentinel clients: InitAddress
// lists the sentinels, Sentinel.MasterSet names the master.
func sentinelHarness(t testing.TB, masterName string, sentinels []string) core.Node {
	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  sentinels,
		Sentinel:     rueidis.SentinelOption{MasterSet: masterName},
		DisableCache: true,
	})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	return NewNode(client)
}

func TestSentinel(t *testing.T) {
	conformance.RunSentinel(t, conformance.SentinelHarnessFunc(sentinelHarness))
}

func TestGroupURLs(t *testing.T) {
	conformance.RunGroupURLs(t, harness{})
}

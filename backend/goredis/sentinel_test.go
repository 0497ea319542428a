package goredis_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/backend/goredis"
	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/nodeurl"
)

// sentinelHarness builds Nodes over go-redis failover clients, with the
// options the package doc advises.
func sentinelHarness(t testing.TB, masterName string, sentinels []string) core.Node {
	client := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:            masterName,
		SentinelAddrs:         sentinels,
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { client.Close() })
	return goredis.NewNode(client)
}

func TestSentinel(t *testing.T) {
	conformance.RunSentinel(t, conformance.SentinelHarnessFunc(sentinelHarness))
}

func TestGroupURLs(t *testing.T) {
	conformance.RunGroupURLs(t, harness{})
}

// NewClientFromURL makes the client each form names; ParseURL, whose
// redis.Options describe one server, refuses the forms of a cluster or a
// Sentinel group, showing no password.
func TestClientFromURL(t *testing.T) {
	for raw, want := range map[string]string{
		"redis://:pw@127.0.0.1:7000/2":                                  "*redis.Client 127.0.0.1:7000",
		"redis://:pw@127.0.0.1:7000?addr=127.0.0.1:7001":                "*redis.ClusterClient 127.0.0.1:7000,127.0.0.1:7001",
		"redis://:pw@127.0.0.1:26379/1?master_name=m&addr=[::1]:26380":  "*redis.Client FailoverClient",
		"rediss://:pw@127.0.0.1:26379?master_set=m&addr=127.0.0.1:2638": "*redis.Client FailoverClient",
	} {
		client, err := goredis.NewClientFromURL(raw)
		require.NoError(t, err, raw)
		got := fmt.Sprintf("%T ", client)
		switch c := client.(type) {
		case *redis.Client:
			got += c.Options().Addr
			assert.True(t, c.Options().ContextTimeoutEnabled, raw)
			assert.Equal(t, "pw", c.Options().Password, raw)
		case *redis.ClusterClient:
			got += strings.Join(c.Options().Addrs, ",")
			assert.True(t, c.Options().ContextTimeoutEnabled, raw)
			assert.Equal(t, "pw", c.Options().Password, raw)
		}
		assert.Equal(t, want, got, raw)
		require.NoError(t, client.Close())

		n, err := goredis.NewNodeFromURL(raw)
		require.NoError(t, err, raw)
		c, _ := nodeurl.Parse(raw)
		assert.Equal(t, c.NodeAddr(), n.Addr(), raw)
		require.NoError(t, n.(io.Closer).Close())

		opts, err := goredis.ParseURL(raw)
		if c.Cluster() || c.MasterName != "" {
			var ue *nodeurl.Error
			require.ErrorAs(t, err, &ue, raw)
			assert.Nil(t, opts)
			assert.Contains(t, err.Error(), "NewClientFromURL", raw)
			assert.NotContains(t, err.Error(), "pw", raw)
		} else {
			require.NoError(t, err, raw)
		}
	}
	for _, raw := range []string{
		"redis://:s3cret@127.0.0.1:7000/1?addr=127.0.0.1:7001",
		"redis://:s3cret@127.0.0.1:26379?master_name=",
		"unix://:s3cret@/tmp/redis.sock?addr=127.0.0.1:7001",
	} {
		_, err := goredis.NewClientFromURL(raw)
		var ue *nodeurl.Error
		require.ErrorAs(t, err, &ue, raw)
		assert.NotContains(t, err.Error(), "s3cret", raw)
	}
	// Two failover clients are two Nodes, though go-redis gives both the
	// same address.
	a := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "m", SentinelAddrs: []string{"127.0.0.1:26379"}})
	b := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "m", SentinelAddrs: []string{"127.0.0.1:26379"}})
	defer a.Close()
	defer b.Close()
	_, err := core.New([]core.Node{goredis.NewNode(a), goredis.NewNode(b)})
	assert.NoError(t, err)
}

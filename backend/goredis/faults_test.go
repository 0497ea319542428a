package goredis_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redlock-go/redlock/backend/goredis"
	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/conformance/faults"
	"github.com/redlock-go/redlock/core"
)

// TestFaults runs the fault campaigns and Kleppmann's scenarios; add
// -faults.long for the long campaign. Its clients have no
// ContextTimeoutEnabled: with it, under the campaigns' dropped connections
// and 100ms node timeouts on a loaded host, go-redis often made no
// connection at all (see the package doc).
func TestFaults(t *testing.T) {
	faults.Run(t, conformance.HarnessFunc(func(t testing.TB, addr string) core.Node {
		client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		t.Cleanup(func() { client.Close() })
		return goredis.NewNode(client)
	}))
}

package valkeynode_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valkey-io/valkey-go"

	valkeynode "github.com/redlock-go/redlock/backend/valkey"
	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/conformance/faults"
	"github.com/redlock-go/redlock/core"
)

// harness builds Nodes over valkey-go clients with the options NewNode
// asks for and the client's defaults otherwise, and from URLs.
type harness struct{}

func (harness) NewNode(t testing.TB, addr string) core.Node {
	client, err := valkey.NewClient(valkey.ClientOption{InitAddress: []string{addr}, AlwaysPipelining: true})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	return valkeynode.NewNode(client)
}

func (harness) NewNodeFromURL(t testing.TB, rawURL string) (core.Node, error) {
	n, err := valkeynode.NewNodeFromURL(rawURL)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { n.(io.Closer).Close() })
	return n, nil
}

func TestConformance(t *testing.T) { conformance.Run(t, harness{}) }

func TestFaults(t *testing.T) { faults.Run(t, harness{}) }

// TestCancelEndsCall: cancelling a context that has a distant deadline, as
// a caller's context often does, ends a call to a server that does not
// answer, through NewNode and through NewNodeFromURL, once the client has
// its connections up.
func TestCancelEndsCall(t *testing.T) {
	f := conformance.NewFixture(t, harness{}, 1)
	fromURL, err := harness{}.NewNodeFromURL(t, "redis://"+f.Servers[0].Addr)
	require.NoError(t, err)
	script := core.Scripts()[0]
	args := []string{"p|", "0000000000000001", "1000", "1"}
	nodes := map[string]core.Node{"NewNode": f.Nodes[0], "NewNodeFromURL": fromURL}
	for _, n := range nodes {
		// A client opens further connections during its first calls, and
		// a call that waits for one waits up to the dial timeout whatever
		// its context (see NewNode): calls made at once open them first.
		for range 3 {
			var wg sync.WaitGroup
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := n.Eval(f.Ctx, script, []string{core.Key("cancel")}, args)
					assert.NoError(t, err, "a call with the server up")
				}()
			}
			wg.Wait()
		}
	}
	f.Servers[0].Pause()
	defer f.Servers[0].Resume()

	// cancelSoon returns a context that is cancelled a moment after it is
	// made, long before f.Ctx's deadline.
	cancelSoon := func() context.Context {
		ctx, cancel := context.WithCancel(f.Ctx)
		timer := time.AfterFunc(100*time.Millisecond, cancel)
		t.Cleanup(func() { timer.Stop(); cancel() })
		return ctx
	}
	const bound = 2 * time.Second
	for name, n := range nodes {
		start := time.Now()
		_, err := n.Eval(cancelSoon(), script, []string{core.Key("cancel")}, args)
		assert.ErrorIs(t, err, context.Canceled, name)
		assert.Less(t, time.Since(start), bound, "%s: Eval outlived its cancelled context by far", name)

		calls := []core.Call{{Script: script, Keys: []string{core.Key("cancel")}, Args: args}}
		start = time.Now()
		n.(core.Batcher).EvalBatch(cancelSoon(), calls)
		assert.ErrorIs(t, calls[0].Err, context.Canceled, name)
		assert.Less(t, time.Since(start), bound, "%s: EvalBatch outlived its cancelled context by far", name)
	}
}

// A valkey-go cluster client is one node: seeded with the masters'
// addresses, it finds the cluster itself.
func TestCluster(t *testing.T) {
	conformance.RunCluster(t, conformance.ClusterHarnessFunc(func(t testing.TB, addrs []string) core.Node {
		client, err := valkey.NewClient(valkey.ClientOption{InitAddress: addrs, AlwaysPipelining: true, DisableCache: true})
		require.NoError(t, err)
		t.Cleanup(client.Close)
		return valkeynode.NewNode(client)
	}))
}

// A valkey-go sentinel client is one node: InitAddress lists the
// sentinels, Sentinel.MasterSet names the master.
func TestSentinel(t *testing.T) {
	conformance.RunSentinel(t, conformance.SentinelHarnessFunc(func(t testing.TB, masterName string, sentinels []string) core.Node {
		client, err := valkey.NewClient(valkey.ClientOption{
			InitAddress: sentinels, Sentinel: valkey.SentinelOption{MasterSet: masterName}, AlwaysPipelining: true, DisableCache: true,
		})
		require.NoError(t, err)
		t.Cleanup(client.Close)
		return valkeynode.NewNode(client)
	}))
}

func TestGroupURLs(t *testing.T) { conformance.RunGroupURLs(t, harness{}) }

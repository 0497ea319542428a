package rueidis

import (
	"io"
	"testing"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

var (
	_ core.Node = (*node)(nil)
	_ core.Node = (*urlNode)(nil)
)

// harness builds Nodes over clients with client-side caching on, the
// rueidis default, or off.
type harness struct{ disableCache bool }

func (h harness) NewNode(t testing.TB, addr string) core.Node {
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: h.disableCache})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	return NewNode(client)
}

func (harness) NewNodeFromURL(t testing.TB, rawURL string) (core.Node, error) {
	n, err := NewNodeFromURL(rawURL)
	if err == nil {
		t.Cleanup(func() { n.(io.Closer).Close() })
	}
	return n, err
}

func TestConformance(t *testing.T) {
	conformance.Run(t, harness{})
}

func TestConformanceNoCache(t *testing.T) {
	conformance.Run(t, harness{disableCache: true})
}

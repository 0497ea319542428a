package goredis_test

import (
	"io"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redlock-go/redlock/backend/goredis"
	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

var _ core.Node = goredis.NewNode(redis.NewClient(&redis.Options{}))

type harness struct{}

// NewNode builds a client with ContextTimeoutEnabled, as the package doc
// describes it.
func (harness) NewNode(t testing.TB, addr string) core.Node {
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	return goredis.NewNode(client)
}

func (harness) NewNodeFromURL(t testing.TB, rawURL string) (core.Node, error) {
	n, err := goredis.NewNodeFromURL(rawURL)
	if err == nil {
		t.Cleanup(func() { n.(io.Closer).Close() })
	}
	return n, err
}

func TestConformance(t *testing.T) {
	conformance.Run(t, harness{})
}

// The suite again with a client that does not bound I/O by the context:
// the adapter must still return at the deadline.
func TestConformanceWithoutContextTimeouts(t *testing.T) {
	conformance.Run(t, conformance.HarnessFunc(func(t testing.TB, addr string) core.Node {
		client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		t.Cleanup(func() { client.Close() })
		return goredis.NewNode(client)
	}))
}

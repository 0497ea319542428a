package redigo_test

import (
	"context"
	"io"
	"testing"

	"github.com/gomodule/redigo/redis"

	"github.com/redlock-go/redlock/backend/redigo"
	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

var _ core.Node = redigo.NewNode(&redis.Pool{})

type harness struct{}

func (harness) NewNode(t testing.TB, addr string) core.Node {
	pool := &redis.Pool{
		MaxIdle: 16,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			return redis.DialContext(ctx, "tcp", addr)
		},
	}
	t.Cleanup(func() { pool.Close() })
	return redigo.NewNodeAddr(pool, addr)
}

func (harness) NewNodeFromURL(t testing.TB, rawURL string) (core.Node, error) {
	n, err := redigo.NewNodeFromURL(rawURL)
	if err == nil {
		t.Cleanup(func() { n.(io.Closer).Close() })
	}
	return n, err
}

func TestConformance(t *testing.T) {
	conformance.Run(t, harness{})
}

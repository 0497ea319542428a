package core_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/internal/testnode"
)

// Options that cannot work are refused by New and NewMutex with an error
// that names them, instead of locks that are lost at once or rounds that
// always fail.
func TestOptionsThatCannotWork(t *testing.T) {
	nodes := []core.Node{testnode.New("127.0.0.1:1"), testnode.New("127.0.0.1:2"), testnode.New("127.0.0.1:3")}
	bad := map[string][]core.Option{
		"keep-alive period near the TTL": {core.WithTTL(time.Second), core.WithKeepAliveEvery(980 * time.Millisecond)},
		"node timeout near the TTL":      {core.WithTTL(time.Second), core.WithNodeTimeout(900 * time.Millisecond)},
		"TTL under a millisecond":        {core.WithTTL(500 * time.Microsecond)},
		"timeout and period over TTL":    {core.WithTTL(time.Second), core.WithNodeTimeout(400 * time.Millisecond), core.WithKeepAliveEvery(600 * time.Millisecond)},
		"counter TTL under a second":     {core.WithFencing(), core.WithCounterTTL(500 * time.Millisecond)},
	}
	for name, opts := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := core.New(nodes, opts...)
			assert.Error(t, err, "New")
			l, err := core.New(nodes)
			require.NoError(t, err)
			m := l.NewMutex("x", opts...)
			assert.Error(t, m.TryLock(t.Context()), "NewMutex")
		})
	}
	_, err := core.New(nodes, core.WithTTL(time.Second), core.WithNodeTimeout(100*time.Millisecond), core.WithKeepAliveEvery(500*time.Millisecond))
	assert.NoError(t, err, "a timeout and a period that fit in the TTL")
}

package goredis_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/backend/goredis"
	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

// commands is a go-redis hook that records each command as go-redis
// prints it (the form that logging and tracing hooks see).
type commands struct {
	mu   sync.Mutex
	seen []string
}

func (c *commands) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		c.mu.Lock()
		c.seen = append(c.seen, cmd.String())
		c.mu.Unlock()
		return err
	}
}

func (c *commands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// The script's keys and arguments, which the Node hands go-redis by
// reference, reach the server and go-redis's hooks as the strings they
// are. (The cluster tests show a cluster client routing by them.)
func TestScriptArgsAsStrings(t *testing.T) {
	s := conformance.Servers(t, 1)[0]
	client := redis.NewClient(&redis.Options{Addr: s.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	hook := &commands{}
	client.AddHook(hook)
	l, err := core.New([]core.Node{goredis.NewNode(client)}, conformance.FixedOwner("args-owner"))
	require.NoError(t, err)
	ctx := context.Background()
	m := l.NewMutex("args")
	require.NoError(t, m.TryLock(ctx))

	v, err := client.Get(ctx, core.Key("args")).Result()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(v, "args-owner|"), "the owner argument reached the server: %q", v)
	require.NoError(t, m.Unlock(ctx))
	require.NoError(t, l.Wait(ctx))

	hook.mu.Lock()
	defer hook.mu.Unlock()
	evals := 0
	for _, s := range hook.seen {
		if strings.HasPrefix(s, "evalsha ") {
			evals++
			assert.Contains(t, s, "args-owner|", "the hook saw the owner argument")
			assert.Contains(t, s, " "+core.Key("args")+" ", "the hook saw the key")
		}
	}
	assert.Equal(t, 2, evals, "an acquire and a release")
	for _, s := range hook.seen {
		assert.NotContains(t, s, "0xc", "an argument printed as a pointer: %s", s)
	}
}

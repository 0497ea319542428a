package faults

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
)

// proxied starts a server and a Proxy to it, and returns them with a
// connection through the proxy.
func proxied(t *testing.T) (*conformance.Server, *Proxy, *conformance.Conn) {
	t.Helper()
	s := conformance.Servers(t, 1)[0]
	p, err := NewProxy(s.Addr)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	c := conformance.Dial(p.Addr())
	t.Cleanup(func() { c.Close() })
	return s, p, c
}

// do runs one command through c with a deadline of d.
func do(c *conformance.Conn, d time.Duration, args ...string) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return c.Do(ctx, args...)
}

func TestProxyForwards(t *testing.T) {
	_, p, c := proxied(t)
	v, err := do(c, time.Second, "SET", "k", "v")
	require.NoError(t, err)
	assert.Equal(t, "OK", v)
	v, err = do(c, time.Second, "GET", "k")
	require.NoError(t, err)
	assert.Equal(t, "v", v)
	assert.NotEmpty(t, p.Target())
}

func TestProxyLatency(t *testing.T) {
	_, p, c := proxied(t)
	_, err := do(c, time.Second, "PING")
	require.NoError(t, err)
	const lat = 40 * time.Millisecond
	p.SetLatency(lat)
	start := time.Now()
	_, err = do(c, 5*time.Second, "PING")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 2*lat, "delayed each way")
	p.SetLatency(0)
}

func TestProxyBlackholeHoldsAndDelivers(t *testing.T) {
	s, p, c := proxied(t)
	_, err := do(c, time.Second, "PING")
	require.NoError(t, err)
	p.Blackhole()
	_, err = do(c, 100*time.Millisecond, "SET", "late", "1")
	require.Error(t, err, "nothing gets through a partition")
	v, err := s.Do("EXISTS", "late")
	require.NoError(t, err)
	assert.Equal(t, int64(0), v, "the write is held, not delivered")

	p.Heal()
	assert.Eventually(t, func() bool {
		v, err := s.Do("GET", "late")
		return err == nil && v == "1"
	}, 5*time.Second, 5*time.Millisecond, "the held write lands when the partition heals")
	_, err = do(c, time.Second, "PING")
	assert.NoError(t, err, "new traffic flows")
}

func TestProxyBlackholeHoldsNewConnections(t *testing.T) {
	s, p, _ := proxied(t)
	p.Blackhole()
	c := conformance.Dial(p.Addr())
	defer c.Close()
	_, err := do(c, 100*time.Millisecond, "SET", "new", "1")
	require.Error(t, err)
	v, err := s.Do("EXISTS", "new")
	require.NoError(t, err)
	assert.Equal(t, int64(0), v)
	p.Heal()
	assert.Eventually(t, func() bool { v, _ := s.Do("GET", "new"); return v == "1" }, 5*time.Second, 5*time.Millisecond)
}

func TestProxyRefuse(t *testing.T) {
	s, p, c := proxied(t)
	_, err := do(c, time.Second, "PING")
	require.NoError(t, err)
	p.Refuse()
	start := time.Now()
	_, err = do(c, 2*time.Second, "SET", "refused", "1")
	require.Error(t, err)
	_, err = do(c, 2*time.Second, "SET", "refused", "1") // a new connection
	require.Error(t, err)
	assert.Less(t, time.Since(start), time.Second, "refused at once, not timed out")
	v, err := s.Do("EXISTS", "refused")
	require.NoError(t, err)
	assert.Equal(t, int64(0), v)
	p.Heal()
	_, err = do(c, time.Second, "PING")
	assert.NoError(t, err)
}

func TestProxyDrop(t *testing.T) {
	_, p, c := proxied(t)
	_, err := do(c, time.Second, "PING")
	require.NoError(t, err)
	assert.Equal(t, 1, p.Drop())
	_, err = do(c, time.Second, "PING")
	assert.Error(t, err, "the dropped connection is gone")
	_, err = do(c, time.Second, "PING")
	assert.NoError(t, err, "a new connection works")
}

func TestProxyServerRestart(t *testing.T) {
	s, _, c := proxied(t)
	_, err := do(c, time.Second, "SET", "k", "v")
	require.NoError(t, err)
	s.Kill()
	_, err = do(c, time.Second, "PING")
	require.Error(t, err)
	_, err = do(c, time.Second, "PING")
	require.Error(t, err, "the server is down")
	require.NoError(t, s.Restart())
	v, err := do(c, time.Second, "GET", "k")
	require.NoError(t, err, "the proxy reaches the server again on its address")
	assert.Nil(t, v, "it came back empty")
}

func TestProxyCloseEndsEverything(t *testing.T) {
	_, p, c := proxied(t)
	_, err := do(c, time.Second, "PING")
	require.NoError(t, err)
	p.Blackhole()
	_, err = do(c, 50*time.Millisecond, "PING") // a connection with held data
	require.Error(t, err)
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "Close twice")
	checkNoLeaks(t)
	_, err = do(c, time.Second, "PING")
	assert.Error(t, err, "nothing listens any more")
}

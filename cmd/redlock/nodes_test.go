package main

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openNodes reads node URLs with goredis.ParseURL: a bare host:port is a
// redis:// URL, two URLs for one server are refused, and no error shows a
// password.
func TestOpenNodes(t *testing.T) {
	nodes, err := openNodes("127.0.0.1:7001, redis://:pw@127.0.0.1:7002/3,unix:///tmp/redlock-test.sock?db=1")
	require.NoError(t, err)
	defer closeNodes(nodes)
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.addr)
		assert.Equal(t, n.addr, n.lock.Addr())
	}
	assert.Equal(t, []string{"127.0.0.1:7001", "127.0.0.1:7002", "/tmp/redlock-test.sock"}, addrs)
	assert.Equal(t, 3, nodes[1].client.(*redis.Client).Options().DB)
	assert.True(t, nodes[0].client.(*redis.Client).Options().ContextTimeoutEnabled, "the goredis adapter's requirement")

	_, err = openNodes("127.0.0.1:7001,redis://127.0.0.1:7001/2")
	assert.ErrorContains(t, err, "name the same server 127.0.0.1:7001")
	_, err = openNodes("redis://127.0.0.1:7001?addr=127.0.0.1:7002,127.0.0.1:7002")
	assert.ErrorContains(t, err, "name the same server 127.0.0.1:7002")
	_, err = openNodes("redis://127.0.0.1:26379?master_name=m,redis://127.0.0.1:26380?addr=127.0.0.1:26379&master_name=m")
	assert.ErrorContains(t, err, "name the same Sentinel group m at 127.0.0.1:26379")

	// A cluster and Sentinel groups, each one node: two groups of the same
	// sentinels are two masters.
	nodes, err = openNodes("redis://:pw@127.0.0.1:7001?addr=127.0.0.1:7002&addr=127.0.0.1:7003," +
		"redis://127.0.0.1:26379?master_name=a&addr=127.0.0.1:26380,redis://127.0.0.1:26379/2?master_name=b")
	require.NoError(t, err)
	defer closeNodes(nodes)
	addrs = addrs[:0]
	for _, n := range nodes {
		addrs = append(addrs, n.addr)
		assert.Equal(t, n.addr, n.lock.Addr())
	}
	assert.Equal(t, []string{"127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003", "a(127.0.0.1:26379,127.0.0.1:26380)", "b(127.0.0.1:26379)"}, addrs)
	assert.IsType(t, &redis.ClusterClient{}, nodes[0].client)
	assert.IsType(t, &redis.Client{}, nodes[1].client)

	for _, list := range []string{
		"redis://:s3cret@127.0.0.1:notaport",
		"redis://:s3cret@127.0.0.1:6379/0?foo=bar",
		"redis://:s3cret/x@127.0.0.1:6379",
		"redis://s3cret@127.0.0.1:6379",
		"127.0.0.1:6379,redis://u:s3cret@127.0.0.1:6379",
		"redis://:s3cret@127.0.0.1:7001/1?addr=127.0.0.1:7002",
		"redis://:s3cret@127.0.0.1:26379?master_name=",
		"redis://:s3cret@127.0.0.1:7001?addr=127.0.0.1",
	} {
		_, err := openNodes(list)
		if assert.Error(t, err, list) {
			assert.NotContains(t, err.Error(), "s3cret", list)
			assert.NotContains(t, err.Error(), "redlock:", "%s: the tool adds its own prefix", list)
		}
	}
}

package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/redlock-go/redlock/conformance"
)

// --nodes takes a Sentinel group and a Redis Cluster, one URL each, as
// nodes of their own: run holds the lock on them, and status shows it
// node by node.
func TestRunOnGroups(t *testing.T) {
	t.Parallel()
	g := conformance.StartSentinelGroup(t)
	c := conformance.Clusters(t, 1, 3)[0]
	_, plain := servers(t, 1)
	s, a := g.SentinelAddrs(), c.Addrs()
	sentinelURL := "redis://" + s[0] + "?master_name=" + g.MasterName + "&addr=" + s[1] + "&addr=" + s[2]
	clusterURL := "redis://" + a[0] + "?addr=" + a[1] + "&addr=" + a[2]
	nodes := strings.Join([]string{sentinelURL, clusterURL, plain}, ",")

	ready := filepath.Join(t.TempDir(), "ready")
	holder := start(t, "run", "--nodes", nodes, "--fencing", "--ttl", "5s", "groups", "--", "sh", "-c", `echo > "$0"; exec sleep 30`, ready)
	waitFor(t, 10*time.Second, "the holder to start", fileHas(ready, "\n"))

	code, stdout, _ := redlock(t, "status", "--nodes", nodes, "groups")
	assert.Equal(t, 0, code, stdout)
	for _, node := range []string{g.MasterName + "(" + strings.Join(s, ",") + ")", strings.Join(a, ","), strings.TrimPrefix(plain, "redis://")} {
		row := `(?m)^` + regexp.QuoteMeta(node) + `\s+held\s+[0-9.]+m?s\s+[0-9a-f]{6}\s+([1-9][0-9]*|-)$`
		assert.Regexp(t, row, stdout, "held, TTL, owner, fence")
	}
	assert.Contains(t, stdout, "held on 3 of 3 nodes; quorum (2): yes")
	v, err := g.Master(t).Do("EXISTS", "redlock:{groups}")
	assert.NoError(t, err)
	assert.Equal(t, int64(1), v, "the lock on the group's master")

	holder.cmd.Process.Signal(syscall.SIGTERM)
	holder.wait(t, 10*time.Second)
	code, stdout, _ = redlock(t, "status", "--nodes", nodes, "groups")
	assert.Equal(t, 1, code, stdout)
	assert.Contains(t, stdout, "held on 0 of 3 nodes; quorum (2): no")
}

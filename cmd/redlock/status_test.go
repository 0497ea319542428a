package main

import (
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// status shows, node by node, whether the lock is held, its TTL and fencing
// counter, tells a down node apart, and sums up the quorum.
func TestStatus(t *testing.T) {
	t.Parallel()
	ss, nodes := servers(t, 3)

	code, stdout, _ := redlock(t, "status", "--nodes", nodes, "report")
	assert.Equal(t, 1, code, stdout)
	assert.Contains(t, stdout, "held on 0 of 3 nodes; quorum (2): no")

	ready := filepath.Join(t.TempDir(), "ready")
	holder := start(t, "run", "--nodes", nodes, "--fencing", "--ttl", "5s", "report", "--", "sh", "-c", `echo > "$0"; exec sleep 30`, ready)
	waitFor(t, 10*time.Second, "the holder to start", fileHas(ready, "\n"))
	ss[2].Kill()

	code, stdout, _ = redlock(t, "status", "--nodes", nodes, "report")
	assert.Equal(t, 0, code, stdout)
	assert.Contains(t, stdout, `lock "report" (key redlock:{report}), 3 nodes, quorum 2`)
	for _, s := range ss[:2] {
		row := `(?m)^` + regexp.QuoteMeta(s.Addr) + `\s+held\s+[0-9.]+m?s\s+[0-9a-f]{6}\s+(1|-)$`
		assert.Regexp(t, row, stdout, "held, TTL, owner, fence")
	}
	// The token was committed on a quorum: at least one of the two nodes
	// left has the counter.
	assert.Regexp(t, `(?m)\s1$`, stdout)
	assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(ss[2].Addr)+`\s+down\s+-\s+-\s+-$`, stdout)
	assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(ss[2].Addr)+`: .*refused`, stdout, "why the node is down")
	assert.Contains(t, stdout, "held on 2 of 3 nodes; quorum (2): yes")
	assert.NotContains(t, stdout, "p:", "the owner token is a secret")

	holder.cmd.Process.Signal(syscall.SIGTERM)
	holder.wait(t, 10*time.Second)
	code, stdout, _ = redlock(t, "status", "--nodes", nodes, "report")
	assert.Equal(t, 1, code, stdout)
	assert.Regexp(t, `(?m)\s+free\s+-\s+-\s+1$`, stdout, "the counter outlives the lock")
	assert.Contains(t, stdout, "held on 0 of 3 nodes; quorum (2): no")

	ss[1].Kill()
	code, stdout, _ = redlock(t, "status", "--nodes", nodes, "report")
	assert.Equal(t, exitUsage, code, stdout)
	assert.Contains(t, stdout, "quorum (2): unknown, only 1 node(s) answered")
}

package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
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
	holder := start(t, "run", "--nodes", nodes, "--fencing", "--ttl", "5s", "--metadata", "nightly run 7", "report", "--", "sh", "-c", `echo > "$0"; exec sleep 30`, ready)
	waitFor(t, 10*time.Second, "the holder to start", fileHas(ready, "\n"))
	ss[2].Kill()

	code, stdout, _ = redlock(t, "status", "--nodes", nodes, "report")
	assert.Equal(t, 0, code, stdout)
	assert.Contains(t, stdout, `lock "report" (key redlock:{report}), 3 nodes, quorum 2`)
	for _, s := range ss[:2] {
		row := `(?m)^` + regexp.QuoteMeta(s.Addr) + `\s+held\s+[0-9.]+m?s\s+[0-9a-f]{6}\s+([1-9][0-9]*|-)\s+"nightly run 7"$`
		assert.Regexp(t, row, stdout, "held, TTL, owner, fence, metadata")
	}
	// The token was committed on a quorum: at least one of the two nodes
	// left has the counter.
	assert.Regexp(t, `(?m)\s[1-9][0-9]*\s+"nightly run 7"$`, stdout)
	assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(ss[2].Addr)+`\s+down\s+-\s+-\s+-\s+-$`, stdout)
	assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(ss[2].Addr)+`: .*refused`, stdout, "why the node is down")
	assert.Regexp(t, `held on 2 of 3 nodes; quorum \(2\): yes, owner [0-9a-f]{6} "nightly run 7"`, stdout)
	assert.NotContains(t, stdout, "p:", "the owner token is a secret")

	holder.cmd.Process.Signal(syscall.SIGTERM)
	holder.wait(t, 10*time.Second)
	code, stdout, _ = redlock(t, "status", "--nodes", nodes, "report")
	assert.Equal(t, 1, code, stdout)
	assert.Regexp(t, `(?m)\s+free\s+-\s+-\s+[1-9][0-9]*$`, stdout, "the counter outlives the lock")
	assert.Contains(t, stdout, "held on 0 of 3 nodes; quorum (2): no")

	ss[1].Kill()
	code, stdout, _ = redlock(t, "status", "--nodes", nodes, "report")
	assert.Equal(t, exitUsage, code, stdout)
	assert.Contains(t, stdout, "quorum (2): unknown, only 1 node(s) answered")
}

// status -n shows a semaphore slot by slot, with each holder's metadata;
// --json prints the same as JSON.
func TestStatusSemaphoreAndJSON(t *testing.T) {
	t.Parallel()
	_, nodes := servers(t, 3)
	dir := t.TempDir()
	var holders []*proc
	for i, meta := range []string{"encoder a", "encoder b"} {
		ready := filepath.Join(dir, "ready"+strconv.Itoa(i))
		holders = append(holders, start(t, "run", "--nodes", nodes, "-n", "3", "--metadata", meta, "enc", "--", "sh", "-c", `echo > "$0"; exec sleep 30`, ready))
		waitFor(t, 10*time.Second, "a holder to start", fileHas(ready, "\n"))
	}
	code, stdout, _ := redlock(t, "status", "--nodes", nodes, "-n", "3", "enc")
	assert.Equal(t, 0, code, stdout)
	assert.Contains(t, stdout, `semaphore "enc" (keys redlock:{enc}:slot:0 to redlock:{enc}:slot:2), 3 slots, 3 nodes, quorum 2`)
	assert.Regexp(t, `(?m)^slot \d: held on [23] of 3 nodes; quorum \(2\): yes, owner [0-9a-f]{6} "encoder a"$`, stdout)
	assert.Regexp(t, `(?m)^slot \d: held on [23] of 3 nodes; quorum \(2\): yes, owner [0-9a-f]{6} "encoder b"$`, stdout)
	assert.Regexp(t, `(?m)^slot \d: held on 0 of 3 nodes; quorum \(2\): no$`, stdout)
	assert.Contains(t, stdout, "2 of 3 slots held")

	code, stdout, _ = redlock(t, "status", "--nodes", nodes, "-n", "3", "--json", "enc")
	assert.Equal(t, 0, code, stdout)
	var st struct {
		Kind  string
		Limit int
		Held  bool
		Slots []struct {
			Key, Owner, Metadata string
			Held                 bool
			Nodes                []struct{ Addr, State, Metadata string }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &st), stdout)
	assert.Equal(t, "semaphore", st.Kind)
	assert.Equal(t, 3, st.Limit)
	assert.True(t, st.Held)
	require.Len(t, st.Slots, 3)
	var metas []string
	for i, slot := range st.Slots {
		assert.Equal(t, "redlock:{enc}:slot:"+strconv.Itoa(i), slot.Key)
		if slot.Held {
			metas = append(metas, slot.Metadata)
			assert.Len(t, slot.Owner, 6)
			require.Len(t, slot.Nodes, 3)
			for _, n := range slot.Nodes {
				if n.State == "held" {
					assert.Equal(t, slot.Metadata, n.Metadata)
				}
			}
		}
	}
	assert.ElementsMatch(t, []string{"encoder a", "encoder b"}, metas)

	code, stdout, _ = redlock(t, "status", "--nodes", nodes, "--json", "enc")
	assert.Equal(t, 1, code, "the lock enc is not the semaphore enc: %s", stdout)
	var lock struct {
		Kind string
		Held bool
		Lock struct{ Key string }
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &lock), stdout)
	assert.Equal(t, "lock", lock.Kind)
	assert.False(t, lock.Held)
	assert.Equal(t, "redlock:{enc}", lock.Lock.Key)
	for _, h := range holders {
		h.cmd.Process.Signal(syscall.SIGTERM)
		h.wait(t, 10*time.Second)
	}
}

// status --election shows an election, with the leader's value.
func TestStatusElection(t *testing.T) {
	t.Parallel()
	_, urls := servers(t, 3)
	nodes, err := openNodes(urls)
	require.NoError(t, err)
	defer closeNodes(nodes)
	locker, err := core.New(lockNodes(nodes))
	require.NoError(t, err)
	ctx := context.Background()
	e := locker.NewElection("sched")
	require.NoError(t, e.Campaign(ctx, "scheduler on host 1"))
	require.NoError(t, locker.Wait(ctx))

	code, stdout, _ := redlock(t, "status", "--nodes", urls, "--election", "sched")
	assert.Equal(t, 0, code, stdout)
	assert.Contains(t, stdout, `election "sched" (key redlock:{sched}:election), 3 nodes, quorum 2`)
	assert.Regexp(t, `quorum \(2\): yes, owner [0-9a-f]{6} "scheduler on host 1"`, stdout)
	assert.Regexp(t, `(?m)\s+held\s+.*\s`+strconv.FormatUint(e.Fence(), 10)+`\s+"scheduler on host 1"$`, stdout, "the term")

	require.NoError(t, e.Resign(ctx))
	require.NoError(t, locker.Wait(ctx))
	code, stdout, _ = redlock(t, "status", "--nodes", urls, "--election", "--json", "sched")
	assert.Equal(t, 1, code, stdout)
	assert.Contains(t, stdout, `"kind": "election"`)
	code, _, stderr := redlock(t, "status", "--nodes", urls, "--election", "-n", "2", "sched")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "exclude each other")
}

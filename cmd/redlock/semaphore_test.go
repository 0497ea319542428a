package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With -n 2, at most two runs of a name hold at once, each with its slot
// in $REDLOCK_SLOT; a third waits, or with --no-wait exits 75.
func TestRunSemaphore(t *testing.T) {
	t.Parallel()
	_, nodes := servers(t, 3)
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	const runs = 5
	job := `echo "start $REDLOCK_SLOT" >> "$0"; sleep 0.2; echo "end $REDLOCK_SLOT" >> "$0"`
	procs := make([]*proc, runs)
	for i := range procs {
		procs[i] = start(t, "run", "--nodes", nodes, "--ttl", "2s", "-n", "2", "encoders", "--", "sh", "-c", job, log)
	}
	for _, p := range procs {
		require.Equal(t, 0, p.wait(t, 30*time.Second), "stderr: %s", p.stderr)
	}
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(t, lines, 2*runs, "log:\n%s", b)
	running := map[string]bool{}
	for _, line := range lines {
		what, slot, _ := strings.Cut(line, " ")
		require.Contains(t, []string{"0", "1"}, slot, "a slot out of range:\n%s", b)
		switch what {
		case "start":
			require.False(t, running[slot], "slot %s held twice at once:\n%s", slot, b)
			running[slot] = true
		case "end":
			running[slot] = false
		}
	}

	holders := make([]*proc, 2)
	for i := range holders {
		ready := filepath.Join(dir, "ready"+string(rune('a'+i)))
		holders[i] = start(t, "run", "--nodes", nodes, "-n", "2", "held", "--", "sh", "-c", `echo "$REDLOCK_SLOT" > "$0"; exec sleep 30`, ready)
		waitFor(t, 10*time.Second, "a holder to start", fileHas(ready, "\n"))
	}
	code, stdout, stderr := redlock(t, "run", "--nodes", nodes, "-n", "2", "--no-wait", "held", "--", "echo", "ran")
	assert.Equal(t, exitNotAcquired, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, `all 2 slots of the semaphore "held" are held by other owners`)
	code, stdout, stderr = redlock(t, "run", "--nodes", nodes, "--no-wait", "held", "--", "echo", "ran")
	assert.Equal(t, 0, code, stderr)
	assert.Equal(t, "ran\n", stdout, "the lock of the same name is another lock")

	require.NoError(t, holders[0].cmd.Process.Signal(syscall.SIGTERM))
	holders[0].wait(t, 10*time.Second)
	code, stdout, stderr = redlock(t, "run", "--nodes", nodes, "-n", "2", "--no-wait", "held", "--", "echo", "ran")
	assert.Equal(t, 0, code, stderr)
	assert.Equal(t, "ran\n", stdout, "a slot is free once its holder ends")
	require.NoError(t, holders[1].cmd.Process.Signal(syscall.SIGTERM))
	holders[1].wait(t, 10*time.Second)

	for _, args := range [][]string{{"-n", "0"}, {"-n", "-1"}, {"-n", "5000"}} {
		code, _, stderr := redlock(t, append(append([]string{"run", "--nodes", nodes}, args...), "x", "--", "true")...)
		assert.Equal(t, exitUsage, code, "%q", args)
		assert.Contains(t, stderr, "-n must be from 1 to", "%q", args)
	}
}

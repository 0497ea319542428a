package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Concurrent runs of one name take turns: every critical section ends
// before the next one starts.
func TestRunExcludes(t *testing.T) {
	t.Parallel()
	_, nodes := servers(t, 3)
	log := filepath.Join(t.TempDir(), "log")
	const runs = 4
	job := `echo "start $$" >> "$0"; sleep 0.2; echo "end $$" >> "$0"`
	procs := make([]*proc, runs)
	for i := range procs {
		procs[i] = start(t, "run", "--nodes", nodes, "--ttl", "2s", "crit", "--", "sh", "-c", job, log)
	}
	for _, p := range procs {
		require.Equal(t, 0, p.wait(t, 30*time.Second), "stderr: %s", p.stderr)
	}
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(t, lines, 2*runs, "log:\n%s", b)
	for i := 0; i < len(lines); i += 2 {
		pid, ok := strings.CutPrefix(lines[i], "start ")
		require.True(t, ok, "line %d of the log is not a start: overlap\n%s", i, b)
		require.Equal(t, "end "+pid, lines[i+1], "overlap:\n%s", b)
	}
}

// A held name: --no-wait fails at once with 75, --wait after its time with 75.
func TestRunHeld(t *testing.T) {
	t.Parallel()
	_, nodes := servers(t, 3)
	ready := filepath.Join(t.TempDir(), "ready")
	holder := start(t, "run", "--nodes", nodes, "held", "--", "sh", "-c", `echo > "$0"; exec sleep 30`, ready)
	waitFor(t, 10*time.Second, "the holder to start", fileHas(ready, ""))

	p := start(t, "run", "--nodes", nodes, "--no-wait", "held", "--", "echo", "ran")
	assert.Equal(t, exitNotAcquired, p.wait(t, 10*time.Second))
	assert.Empty(t, p.stdout.String(), "the command must not run")
	assert.Contains(t, p.stderr.String(), `the lock "held" is held by another owner`)
	assert.Less(t, p.took, 2*time.Second, "--no-wait waits")

	p = start(t, "run", "--nodes", nodes, "--wait", "500ms", "held", "--", "echo", "ran")
	assert.Equal(t, exitNotAcquired, p.wait(t, 10*time.Second))
	assert.Empty(t, p.stdout.String(), "the command must not run")
	assert.Contains(t, p.stderr.String(), "--wait 500ms")
	assert.GreaterOrEqual(t, p.took, 400*time.Millisecond, "--wait gave up early")

	require.NoError(t, holder.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, exitSignal+int(syscall.SIGTERM), holder.wait(t, 10*time.Second), "the holder's command is killed by the forwarded SIGTERM")

	code, stdout, stderr := redlock(t, "run", "--nodes", nodes, "--no-wait", "held", "--", "echo", "ran")
	assert.Equal(t, 0, code, stderr)
	assert.Equal(t, "ran\n", stdout, "released at the holder's end")
	assert.Empty(t, stderr, "quiet when stderr is no terminal")
}

// When the lock's keys are deleted, the command is stopped: SIGTERM, then
// SIGKILL for one that ignores it; redlock exits 124.
func TestRunLost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, job string
		killed    bool
	}{
		{"stops on SIGTERM", `sleep 30 & echo $! > "$0"; wait`, false},
		{"killed after the grace", `trap "" TERM; sleep 30 & echo $! > "$0"; wait`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ss, nodes := servers(t, 3)
			pidFile := filepath.Join(t.TempDir(), "pid")
			p := start(t, "run", "--nodes", nodes, "--ttl", "1s", "--grace", "300ms", "lost", "--", "sh", "-c", tc.job, pidFile)
			waitFor(t, 10*time.Second, "the command to start", fileHas(pidFile, "\n"))
			b, _ := os.ReadFile(pidFile)
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			require.NoError(t, err)

			deleteKeys(t, ss, "lost")
			assert.Equal(t, exitLost, p.wait(t, 10*time.Second))
			assert.Less(t, p.took, 10*time.Second)
			assert.Contains(t, p.stderr.String(), `lost the lock "lost" while the command ran`)
			assert.Equal(t, tc.killed, strings.Contains(p.stderr.String(), "sending SIGKILL"), p.stderr.String())
			// The whole process group is stopped, not only the shell.
			waitFor(t, 5*time.Second, "the command's child to end", gone(pid))
		})
	}
}

// gone reports whether process pid has ended (or is a zombie).
func gone(pid int) func() bool {
	return func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		_, rest, _ := strings.Cut(string(b), ") ")
		return strings.HasPrefix(rest, "Z")
	}
}

// redlock passes the command's exit code through, and forwards signals.
func TestRunExitCodesAndSignals(t *testing.T) {
	t.Parallel()
	_, nodes := servers(t, 3)

	code, stdout, stderr := redlock(t, "run", "--nodes", nodes, "--verbose", "codes", "--", "sh", "-c", "echo out; exit 7")
	assert.Equal(t, 7, code)
	assert.Equal(t, "out\n", stdout)
	assert.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3} redlock\[\d+\] acquired "codes" \(valid \d`, stderr, "--verbose")
	assert.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3} redlock\[\d+\] released "codes"$`, stderr, "--verbose")

	code, _, stderr = redlock(t, "run", "--nodes", nodes, "codes", "--", "no-such-command-here")
	assert.Equal(t, exitNotFound, code)
	assert.Contains(t, stderr, "no-such-command-here")

	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(plain, []byte("echo hi\n"), 0o644))
	code, _, _ = redlock(t, "run", "--nodes", nodes, "codes", "--", plain)
	assert.Equal(t, exitCannotRun, code, "a file that is not executable")

	ready, got := filepath.Join(dir, "ready"), filepath.Join(dir, "got")
	job := `trap 'echo USR1 > "$1"; exit 3' USR1; echo > "$0"; while :; do sleep 0.05; done`
	p := start(t, "run", "--nodes", nodes, "codes", "--", "sh", "-c", job, ready, got)
	waitFor(t, 10*time.Second, "the command to start", fileHas(ready, "\n"))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGUSR1))
	assert.Equal(t, 3, p.wait(t, 10*time.Second))
	assert.True(t, fileHas(got, "USR1")(), "the command did not get SIGUSR1")
}

// --fencing hands the command a token that grows with every holder.
func TestRunFencing(t *testing.T) {
	t.Parallel()
	_, nodes := servers(t, 3)
	var tokens []uint64
	for range 2 {
		code, stdout, stderr := redlock(t, "run", "--nodes", nodes, "--fencing", "fenced", "--", "sh", "-c", `echo "$REDLOCK_FENCE"`)
		require.Equal(t, 0, code, stderr)
		token, err := strconv.ParseUint(strings.TrimSpace(stdout), 10, 64)
		require.NoError(t, err, "REDLOCK_FENCE=%q", stdout)
		tokens = append(tokens, token)
	}
	assert.Greater(t, tokens[1], tokens[0])

	code, stdout, _ := redlock(t, "run", "--nodes", nodes, "unfenced", "--", "sh", "-c", `echo "${REDLOCK_FENCE-unset}"`)
	assert.Equal(t, 0, code)
	assert.Equal(t, "unset\n", stdout)
}

// With --granularity host, runs on one machine are one owner.
func TestRunGranularityHost(t *testing.T) {
	t.Parallel()
	_, nodes := servers(t, 3)
	ready := filepath.Join(t.TempDir(), "ready")
	holder := start(t, "run", "--nodes", nodes, "--granularity", "host", "shared", "--", "sh", "-c", `echo > "$0"; exec sleep 30`, ready)
	waitFor(t, 10*time.Second, "the holder to start", fileHas(ready, "\n"))

	code, _, _ := redlock(t, "run", "--nodes", nodes, "--no-wait", "shared", "--", "true")
	assert.Equal(t, exitNotAcquired, code, "a process owner is another owner")
	code, stdout, stderr := redlock(t, "run", "--nodes", nodes, "--no-wait", "--granularity", "host", "shared", "--", "echo", "ran")
	assert.Equal(t, 0, code, stderr)
	assert.Equal(t, "ran\n", stdout, "the host owner holds it already")
	holder.cmd.Process.Signal(syscall.SIGTERM)
	holder.wait(t, 10*time.Second)
}

// Mistakes in the command line, and unreachable nodes, exit 2 with a
// message that says what is wrong.
func TestRunUsageErrors(t *testing.T) {
	t.Parallel()
	down, downURL := servers(t, 1)
	down[0].Stop()
	ss, nodes := servers(t, 2)
	half := "redis://" + ss[0].Addr + "," + downURL + ",redis://127.0.0.1:1"

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "Usage:"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"run"}, "missing NAME"},
		{[]string{"run", "name"}, "missing COMMAND"},
		{[]string{"run", "name", "--"}, "missing COMMAND"},
		{[]string{"run", "--ttl", "ten", "name", "--", "true"}, `invalid value "ten" for flag -ttl`},
		{[]string{"run", "--ttl", "-1s", "name", "--", "true"}, "--ttl must be positive"},
		{[]string{"run", "--bogus", "name", "--", "true"}, "flag provided but not defined: -bogus"},
		{[]string{"run", "--wait", "1s", "--no-wait", "name", "--", "true"}, "exclude each other"},
		{[]string{"run", "--granularity", "thread", "name", "--", "true"}, "--granularity must be process or host"},
		{[]string{"run", "--nodes", "ftp://x:1", "name", "--", "true"}, `node URL "ftp://x:1"`},
		{[]string{"run", "--nodes", "redis://:secret@127.0.0.1:1/banana", "name", "--", "true"}, "xxxxx"},
		{[]string{"run", "--nodes", nodes + ",", "name", "--", "true"}, "empty node URL"},
		{[]string{"run", "--nodes", downURL, "name", "--", "true"}, "cannot reach a quorum of the nodes (0 of 1 answer, 1 needed)"},
		{[]string{"run", "--nodes", half, "name", "--", "true"}, "cannot reach a quorum of the nodes (1 of 3 answer, 2 needed)"},
		{[]string{"status"}, "missing NAME"},
		{[]string{"status", "a", "b"}, "one NAME only"},
		{[]string{"status", "--nodes", downURL, "name"}, "quorum (1): unknown"},
		{[]string{"demo", "extra"}, `unexpected argument "extra"`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
	} {
		code, stdout, stderr := redlock(t, tc.args...)
		assert.Equal(t, exitUsage, code, "%q", tc.args)
		assert.Contains(t, stdout+stderr, tc.want, "%q", tc.args)
		assert.NotContains(t, stdout+stderr, "secret", "%q: a password in the output", tc.args)
	}
}

// --help prints the usage, with examples, and exits 0.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"help"}, {"help", "run"}, {"run", "--help"}, {"status", "-h"}, {"demo", "--help"}} {
		code, stdout, stderr := redlock(t, args...)
		assert.Equal(t, 0, code, "%q", args)
		assert.Empty(t, stderr, "%q", args)
		assert.Contains(t, stdout, "Usage", "%q", args)
		assert.Contains(t, stdout, "Examples:", "%q", args)
	}
	_, stdout, _ := redlock(t, "help", "run")
	for _, code := range []string{"75", "124", "126", "127", "128+N"} {
		assert.Contains(t, stdout, "\n  "+code+" ", "the exit code %s is documented", code)
	}
}

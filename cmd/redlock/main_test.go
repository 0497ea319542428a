package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
)

// bin is the redlock binary under test, built once by TestMain.
var bin string

// buildFlags are extra flags for building bin (-race in a race build).
var buildFlags []string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "redlock-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "redlock")
	args := append(append([]string{"build"}, buildFlags...), "-o", bin, ".")
	build := exec.Command("go", args...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building redlock:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// servers starts n redis-servers for the test and returns them with their
// URLs, as --nodes takes them.
func servers(t *testing.T, n int) ([]*conformance.Server, string) {
	t.Helper()
	ss := conformance.Servers(t, n)
	urls := make([]string, n)
	for i, s := range ss {
		urls[i] = "redis://" + s.Addr
	}
	return ss, strings.Join(urls, ",")
}

// proc is a running redlock.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	start          time.Time
	took           time.Duration // set when done is closed
}

// start runs redlock with args, with $REDLOCK_NODES unset, and kills it at
// the test's end if it still runs.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startEnv(t, nil, args...)
}

// startEnv is start with the variables env ("NAME=value") added.
func startEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, nodesEnv+"=") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	// A race-enabled binary sleeps 1s at exit unless told not to; a race it
	// finds still makes it exit 66, which fails the test.
	p.cmd.Env = append(p.cmd.Env, "GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.start = time.Now()
	require.NoError(t, p.cmd.Start())
	go func() {
		p.cmd.Wait()
		p.took = time.Since(p.start)
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits up to limit for redlock to exit and returns its exit code.
func (p *proc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("redlock %q did not exit within %v\nstdout:\n%s\nstderr:\n%s", p.cmd.Args[1:], limit, p.stdout, p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// redlock runs redlock with args to its end (at most 30s) and returns its
// exit code and output.
func redlock(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := start(t, args...)
	code = p.wait(t, 30*time.Second)
	return code, p.stdout.String(), p.stderr.String()
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// fileHas reports whether the file at path contains s.
func fileHas(path, s string) func() bool {
	return func() bool {
		b, err := os.ReadFile(path)
		return err == nil && strings.Contains(string(b), s)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// deleteKeys deletes the lock name's key on every server, as an operator
// would.
func deleteKeys(t *testing.T, ss []*conformance.Server, name string) {
	t.Helper()
	for _, s := range ss {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := s.Admin.Do(ctx, "DEL", "redlock:{"+name+"}")
		cancel()
		require.NoError(t, err)
	}
}

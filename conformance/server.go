package conformance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a redis-server process started for tests: no persistence unless
// asked for, loopback only. It can be killed, paused, resumed and restarted
// on the same address. Servers stop only processes they started, by pid.
type Server struct {
	// Addr is the server's host:port on 127.0.0.1.
	Addr string
	// Admin is a connection for inspecting and steering the server.
	Admin *Conn

	port  int
	args  []string
	dir   string
	mu    sync.Mutex
	cmd   *exec.Cmd
	exit  chan struct{}
	state string // "running", "paused", "stopped"
}

// ServerBinary is the program Start runs.
var ServerBinary = "redis-server"

// Start starts a redis-server on a free loopback port and waits until it
// answers PING. extra are further configuration arguments, such as
// "--appendonly", "yes". Stop it with Stop.
func Start(extra ...string) (*Server, error) {
	path, err := exec.LookPath(ServerBinary)
	if err != nil {
		return nil, fmt.Errorf("conformance: %s not found on PATH: install the Debian package redis-server (apt-get install -y redis-server): %w", ServerBinary, err)
	}
	dir, err := os.MkdirTemp("", "redlock-server-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for try := 0; try < 5; try++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), port: port, dir: dir, args: extra}
		s.Admin = Dial(s.Addr)
		if lastErr = s.launch(path); lastErr == nil {
			return s, nil
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// Servers starts n servers for the test and stops them at its cleanup. It
// fails the test if one does not start.
func Servers(t testing.TB, n int, extra ...string) []*Server {
	t.Helper()
	out := make([]*Server, 0, n)
	for range n {
		s, err := Start(extra...)
		if err != nil {
			t.Fatalf("conformance: start redis-server: %v", err)
		}
		t.Cleanup(s.Stop)
		out = append(out, s)
	}
	return out
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) launch(path string) error {
	args := []string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "no",
		"--daemonize", "no", "--dir", s.dir, "--logfile", "", "--loglevel", "warning",
	}
	args = append(args, s.args...)
	cmd := exec.Command(path, args...)
	cmd.SysProcAttr = sysProcAttr()
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	exit := make(chan struct{})
	go func() { cmd.Wait(); close(exit) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		v, err := s.Admin.Do(ctx, "INFO", "server", "persistence")
		cancel()
		if err == nil {
			// Another test process may have taken the port between our
			// probe and the server's bind: make sure the answer is ours.
			// A server with an append-only file answers LOADING to every
			// command until it has read it: wait for that too.
			info := fmt.Sprint(v)
			if pid := infoField(info, "process_id"); pid == strconv.Itoa(cmd.Process.Pid) {
				if infoField(info, "loading") != "1" {
					break
				}
				err = errors.New("loading its data")
			}
		}
		if err == nil {
			s.Admin.Close()
			cmd.Process.Kill()
			<-exit
			return fmt.Errorf("conformance: port %d answered by another server", s.port)
		}
		select {
		case <-exit:
			return fmt.Errorf("conformance: redis-server on port %d exited: %s", s.port, out.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exit
			return fmt.Errorf("conformance: redis-server on port %d did not answer: %v", s.port, err)
		}
	}
	s.mu.Lock()
	s.cmd, s.exit, s.state = cmd, exit, "running"
	s.mu.Unlock()
	return nil
}

// infoField returns the value of field in an INFO reply.
func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// Kill stops the server at once with SIGKILL, as a crash would. What it held
// in memory is gone.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == "stopped" {
		return
	}
	s.cmd.Process.Kill()
	<-s.exit
	s.Admin.Close()
	s.state = "stopped"
}

// Pause freezes the server with SIGSTOP: connections stay open, nothing is
// answered, as with a long GC pause or a hung host.
func (s *Server) Pause() { s.signal("running", "paused", syscall.SIGSTOP) }

// Resume undoes Pause with SIGCONT.
func (s *Server) Resume() { s.signal("paused", "running", syscall.SIGCONT) }

func (s *Server) signal(from, to string, sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != from {
		return
	}
	s.cmd.Process.Signal(sig)
	s.state = to
}

// Restart kills the server if it runs and starts it again on the same
// address. Without persistence it comes back empty.
func (s *Server) Restart() error {
	s.Resume()
	s.Kill()
	path, err := exec.LookPath(ServerBinary)
	if err != nil {
		return err
	}
	// The port was ours a moment ago; another process may take it in between.
	var lastErr error
	for try := 0; try < 50; try++ {
		if lastErr = s.launch(path); lastErr == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond) // spacing retries of a failed bind, not synchronisation
	}
	return lastErr
}

// Stop kills the server if it runs and removes its directory.
func (s *Server) Stop() {
	s.Resume()
	s.Kill()
	os.RemoveAll(s.dir)
}

// Running reports whether the server is started and not paused.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == "running"
}

// Do runs one admin command on the server, with a 5s bound.
func (s *Server) Do(args ...string) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Admin.Do(ctx, args...)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// RunWithServers starts a redis-server for each entry of addrs, writes its
// address there, runs the tests and stops the servers. It returns m.Run's
// exit code, or 1 when a server does not start. It serves TestMain in
// packages whose examples read server addresses from a variable:
//
//	func TestMain(m *testing.M) { os.Exit(conformance.RunWithServers(m, redisAddrs)) }
func RunWithServers(m *testing.M, addrs []string) int {
	for i := range addrs {
		s, err := Start()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer s.Stop()
		addrs[i] = s.Addr
	}
	return m.Run()
}

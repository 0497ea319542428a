package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"
	"golang.org/x/sys/unix"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/granularity"
	"github.com/redlock-go/redlock/retry"
)

const runHelp = `Usage: redlock run [flags] NAME -- COMMAND [ARGS...]

Acquires the lock NAME on a quorum of the nodes, runs COMMAND while keeping
the lock alive, passes the signals INT, TERM, HUP, QUIT, USR1 and USR2 on to
it, releases the lock when it exits, and exits with its exit status.

With -n LIMIT, NAME is a semaphore of LIMIT slots instead: up to LIMIT runs
of NAME at once, each holding one slot (its number in $REDLOCK_SLOT). Every
run of NAME must give the same LIMIT. The semaphore's keys are not those of
the lock NAME: "redlock run NAME" and "redlock run -n 1 NAME" do not exclude
each other.

If the lock is lost while COMMAND runs (its keys were deleted or taken over,
or too few nodes confirm it), redlock says so on stderr, stops COMMAND
(SIGTERM to its process group, SIGKILL after --grace) and exits 124. The
lock is then no longer proven held: use --fencing to let the resource refuse
late writes.

Flags:
{{flags}}

Nodes are read from --nodes, else $REDLOCK_NODES, else
redis://127.0.0.1:6379/0; URLs are redis://[user:password@]host:port[/db],
rediss:// for TLS, unix:///path/to/socket[?db=N], or a bare host:port. One
node may be a Redis Cluster, redis://host:port?addr=host:port&addr=...
(seed nodes), or a Sentinel group, redis://host:port?master_name=NAME&addr=...
(the sentinels); either counts as one node, and a failover can lose a lock.

Exit status:
  N       COMMAND's own exit status: it ran to its end under the lock
  2       bad flags or arguments, a bad node URL, or fewer than a quorum of
          nodes answer
  75      NAME is held by another owner (with -n, all its slots are): at
          once with --no-wait, or when --wait ran out
  124     the lock was lost while COMMAND ran, and COMMAND was stopped
  125     redlock failed in some other way
  126     COMMAND was found but could not be run
  127     COMMAND was not found
  128+N   COMMAND was killed by signal N; or redlock was, while waiting
As with flock(1) and timeout(1), a COMMAND that exits with one of these
codes itself is not told apart from redlock.

Examples:
  # run the nightly report unless another host runs it already
  redlock run --no-wait nightly-report -- ./report.sh --full

  # wait up to five minutes for the migration lock, on three nodes
  redlock run --nodes r1:6379,r2:6379,r3:6379 --wait 5m migrate -- ./migrate up

  # hand a fencing token to the job, for the database to check
  redlock run --fencing import -- sh -c './import --fence "$REDLOCK_FENCE"'

  # at most four encoders at once, across every host
  redlock run -n 4 encoders -- sh -c './encode --worker "$REDLOCK_SLOT" input.mkv'
`

// fenceEnv names the environment variable that carries the fencing token
// to the command.
const fenceEnv = "REDLOCK_FENCE"

// slotEnv names the environment variable that carries the semaphore slot
// (-n) to the command.
const slotEnv = "REDLOCK_SLOT"

// forwarded are the signals passed on to the command.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

type runConfig struct {
	nodes       string
	ttl         time.Duration
	wait        time.Duration // 0: no limit
	noWait      bool
	granularity string
	fencing     bool
	grace       time.Duration
	verbose     bool
	limit       int    // -n: a semaphore of limit slots; 0: a lock
	metadata    string // stored with the lock, for status

	name    string
	command []string
}

// parseRun reads the command line of run. Flags may come before or after
// NAME; everything after "--" (or after the first word that is not a flag
// following NAME) is the command.
func parseRun(args []string, stdout io.Writer) (*runConfig, error) {
	c := &runConfig{}
	fs := newFlagSet("run", runHelp, stdout)
	fs.StringVar(&c.nodes, "nodes", "", "comma-separated node `URLs` (default $"+nodesEnv+", else redis://127.0.0.1:6379/0)")
	fs.DurationVar(&c.ttl, "ttl", 10*time.Second, "how long the lock lives on its nodes unless extended; it is extended every TTL/3")
	fs.DurationVar(&c.wait, "wait", 0, "give up when the lock is not acquired within this `duration` (default: wait until it is)")
	fs.BoolVar(&c.noWait, "no-wait", false, "give up at once when the lock is held")
	fs.StringVar(&c.granularity, "granularity", "process", "the lock's `OWNER`: process (this run) or host (every run on this machine: runs on one machine do not exclude each other, and the first to end releases the lock for all of them)")
	fs.BoolVar(&c.fencing, "fencing", false, "get a fencing token, a number that grows with every new holder of NAME, and pass it to COMMAND in $"+fenceEnv)
	fs.DurationVar(&c.grace, "grace", 10*time.Second, "after the lock is lost, how long COMMAND has to stop after SIGTERM before SIGKILL")
	fs.BoolVar(&c.verbose, "verbose", false, "log the lock's life (acquired, extended, released) on stderr")
	fs.StringVar(&c.metadata, "metadata", "", "a short description of this run, such as a host name and pid, stored with the lock for 'redlock status' to show")
	fs.IntVar(&c.limit, "n", 0, "hold one of `LIMIT` slots of the semaphore NAME instead of the lock NAME: up to LIMIT runs at once; the slot is passed to COMMAND in $"+slotEnv)

	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return nil, usagef("missing NAME and COMMAND")
	}
	c.name, rest = rest[0], rest[1:]
	switch {
	case len(rest) > 0 && rest[0] == "--":
		rest = rest[1:]
	case len(rest) > 0 && strings.HasPrefix(rest[0], "-"):
		if err := parseFlags(fs, rest); err != nil { // flags after NAME
			return nil, err
		}
		rest = fs.Args()
	}
	c.command = rest

	switch {
	case c.name == "":
		return nil, usagef("empty lock NAME")
	case len(c.command) == 0:
		return nil, usagef("missing COMMAND after %q", "--")
	case c.ttl <= 0:
		return nil, usagef("--ttl must be positive, got %v", c.ttl)
	case c.wait < 0:
		return nil, usagef("--wait must not be negative, got %v", c.wait)
	case c.wait > 0 && c.noWait:
		return nil, usagef("--wait and --no-wait exclude each other")
	case c.grace <= 0:
		return nil, usagef("--grace must be positive, got %v", c.grace)
	case len(c.metadata) > core.MaxMetadata:
		return nil, usagef("--metadata is %d bytes, at most %d", len(c.metadata), core.MaxMetadata)
	case c.limit < 0 || c.limit > core.MaxLimit || (c.limit == 0 && limitGiven(fs)):
		return nil, usagef("-n must be from 1 to %d, got %d", core.MaxLimit, c.limit)
	case c.granularity != "process" && c.granularity != "host":
		return nil, usagef("--granularity must be process or host, got %q", c.granularity)
	}
	return c, nil
}

func runCommand(args []string, stdout, stderr io.Writer) int {
	c, err := parseRun(args, stdout)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		return fail(stderr, "run", err, exitUsage)
	}
	// Find COMMAND before waiting for the lock: a typo should not cost a wait.
	cmd := exec.Command(c.command[0], c.command[1:]...)
	if cmd.Err != nil {
		return fail(stderr, "run", cmd.Err, startCode(cmd.Err))
	}

	nodes, err := openNodes(nodeList(c.nodes))
	if err != nil {
		return fail(stderr, "run", usagef("%v", err), exitUsage)
	}
	defer closeNodes(nodes)
	warnings, err := checkNodes(context.Background(), nodes)
	if err != nil {
		return fail(stderr, "run", err, exitUsage)
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "redlock run: warning: %s\n", w)
	}

	owner := granularity.Process()
	if c.granularity == "host" {
		owner = granularity.Host()
	}
	opts := []core.Option{core.WithTTL(c.ttl), core.WithOwner(owner)}
	if c.verbose {
		out, who := &lines{w: stderr}, fmt.Sprintf("redlock[%d]", os.Getpid())
		opts = append(opts, core.WithEvents(func(e core.Event) { out.printf(who, "%s", describe(e, len(nodes))) }))
	}
	locker, err := core.New(lockNodes(nodes), opts...)
	if err != nil {
		return fail(stderr, "run", usagef("%v", err), exitUsage)
	}
	// Deferred after closeNodes, so run before it: let the releases still
	// on their way land before the clients close.
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		_ = locker.Wait(ctx)
	}()
	mopts := []core.Option{core.WithKeepAlive(true), core.WithMetadata(c.metadata)}
	if c.wait > 0 {
		mopts = append(mopts, core.WithRetry(within(retry.Default(), c.wait)))
	}
	if c.fencing {
		mopts = append(mopts, core.WithFencing())
	}
	var m holder = locker.NewMutex(c.name, mopts...)
	if c.limit > 0 {
		m = slotHolder{locker.NewSemaphore(c.name, c.limit, mopts...)}
	}

	// From here on the signals are redlock's to handle: while waiting they
	// end the wait, while the command runs they are passed on to it.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	if code, ok := acquire(m, c, sigs, stderr); !ok {
		return code
	}
	return runLocked(m, c, cmd, sigs, stderr)
}

// acquire takes the lock as c says: one round with --no-wait, else rounds
// until acquired, --wait runs out (see within), or a forwarded signal
// arrives. It reports false, with the exit code, when the lock was not
// taken.
func acquire(m holder, c *runConfig, sigs <-chan os.Signal, stderr io.Writer) (int, bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var spin *spinner
	if !c.noWait && !c.verbose && isTerminal(os.Stderr) {
		spin = startSpinner(stderr, func(d time.Duration) string {
			if c.wait > 0 {
				return fmt.Sprintf("waiting for the lock %q (%s of %s)", c.name, short(d), c.wait)
			}
			return fmt.Sprintf("waiting for the lock %q (%s)", c.name, short(d))
		})
	}
	start := time.Now()
	result := make(chan error, 1)
	go func() {
		if c.noWait {
			result <- m.TryLock(ctx)
		} else {
			result <- m.Lock(ctx)
		}
	}()
	var err error
	var sig os.Signal
	select {
	case err = <-result:
	case sig = <-sigs:
		cancel()
		if err = <-result; err == nil {
			releaseLock(m, stderr)
		}
	}
	if spin != nil && spin.Stop() && err == nil && sig == nil {
		fmt.Fprintf(stderr, "redlock run: acquired %q after %s\n", c.name, short(time.Since(start)))
	}
	switch {
	case sig != nil:
		fmt.Fprintf(stderr, "redlock run: %v while waiting for the lock %q\n", sig, c.name)
		return signalCode(sig), false
	case errors.Is(err, core.ErrNotAcquired):
		msg := notAcquired(err, c.name)
		if c.limit > 0 && heldByOther(err) {
			msg = fmt.Sprintf("all %d slots of the semaphore %q are held by other owners", c.limit, c.name)
		}
		if c.wait > 0 {
			msg += " (gave up after --wait " + c.wait.String() + ")"
		}
		fmt.Fprintf(stderr, "redlock run: %s\n", msg)
		return exitNotAcquired, false
	case err != nil:
		return fail(stderr, "run", err, exitUsage), false
	}
	return 0, true
}

// notAcquired explains an ErrNotAcquired error for people.
func notAcquired(err error, name string) string {
	if heldByOther(err) {
		return fmt.Sprintf("the lock %q is held by another owner", name)
	}
	return fmt.Sprintf("the lock %q was not acquired: %s", name, oneLine(err))
}

// heldByOther reports whether a node refused err's round because another
// owner holds the lock there.
func heldByOther(err error) bool {
	for _, ne := range nodeErrors(err) {
		if errors.Is(ne.Err, core.ErrHeldByOther) {
			return true
		}
	}
	return false
}

// holder is what run holds while COMMAND runs: a lock (a core.Mutex) or,
// with -n, a slot of a semaphore (slotHolder).
type holder interface {
	TryLock(context.Context) error
	Lock(context.Context) error
	Unlock(context.Context) error
	Done() <-chan struct{}
	Err() error
	Fence() uint64
}

// slotHolder is a semaphore as a holder.
type slotHolder struct{ *core.Semaphore }

func (s slotHolder) TryLock(ctx context.Context) error { return s.TryAcquire(ctx) }
func (s slotHolder) Lock(ctx context.Context) error    { return s.Acquire(ctx) }
func (s slotHolder) Unlock(ctx context.Context) error  { return s.Release(ctx) }

// limitGiven reports whether -n was on the command line.
func limitGiven(fs *flag.FlagSet) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "n" })
	return given
}

// within stops the rounds of p once the next one would start more than d
// after the first failed: Lock then returns the error of a whole round,
// which says why the lock was not taken, rather than one cut short by a
// context deadline.
func within(p retry.Policy, d time.Duration) retry.Policy {
	return func() backoff.BackOff { return &withinBackOff{next: p(), end: time.Now().Add(d)} }
}

type withinBackOff struct {
	next backoff.BackOff
	end  time.Time
}

func (b *withinBackOff) NextBackOff() time.Duration {
	d := b.next.NextBackOff()
	if d == backoff.Stop || time.Now().Add(d).After(b.end) {
		return backoff.Stop
	}
	return d
}

func (b *withinBackOff) Reset() { b.next.Reset() }

// lostReason explains an ErrLockLost error for people.
func lostReason(err error) string {
	notHeld, failed := 0, 0
	for _, ne := range nodeErrors(err) {
		if errors.Is(ne.Err, core.ErrNotHeld) {
			notHeld++
		} else {
			failed++
		}
	}
	switch {
	case notHeld > 0 && failed > 0:
		return fmt.Sprintf("%d node(s) no longer hold it (its keys were deleted, expired or taken over) and %d did not answer", notHeld, failed)
	case notHeld > 0:
		return fmt.Sprintf("%d node(s) no longer hold it: its keys were deleted, expired or taken over", notHeld)
	case failed > 0:
		return fmt.Sprintf("%d node(s) did not confirm it before it expired: %s", failed, oneLine(err))
	}
	return "no quorum of nodes confirmed it before it expired"
}

// nodeErrors returns the NodeErrors in err's tree.
func nodeErrors(err error) []*core.NodeError {
	switch e := err.(type) {
	case nil:
		return nil
	case *core.NodeError:
		return []*core.NodeError{e}
	case interface{ Unwrap() []error }:
		var out []*core.NodeError
		for _, err := range e.Unwrap() {
			out = append(out, nodeErrors(err)...)
		}
		return out
	case interface{ Unwrap() error }:
		return nodeErrors(e.Unwrap())
	}
	return nil
}

// runLocked runs cmd while m holds the lock, and releases it when cmd
// exits. It returns redlock's exit code.
func runLocked(m holder, c *runConfig, cmd *exec.Cmd, sigs <-chan os.Signal, stderr io.Writer) int {
	defer releaseLock(m, stderr)
	select {
	case <-m.Done(): // lost before the command could start
		fmt.Fprintf(stderr, "redlock run: lost the lock %q before the command started: %s\n", c.name, lostReason(m.Err()))
		return exitLost
	default:
	}

	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if c.fencing {
		cmd.Env = append(os.Environ(), fenceEnv+"="+strconv.FormatUint(m.Fence(), 10))
	}
	if s, ok := m.(slotHolder); ok {
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		cmd.Env = append(cmd.Env, slotEnv+"="+strconv.Itoa(s.Slot()))
	}
	// The command runs in a process group of its own, so that stopping it
	// stops everything it started. On a terminal whose foreground redlock
	// is, that group becomes the foreground: the command reads the
	// terminal, and Ctrl-C reaches it directly.
	interactive := isTerminal(os.Stdin) && foreground(0)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Foreground: interactive, Ctty: 0}
	tstp := make(chan os.Signal, 1)
	signal.Notify(tstp, syscall.SIGTSTP)
	defer signal.Stop(tstp)
	if err := cmd.Start(); err != nil {
		return fail(stderr, "run", err, startCode(err))
	}
	defer cmd.Process.Release()
	if interactive {
		defer takeTerminal(0)
	}
	pgid := cmd.Process.Pid

	waits := make(chan waitResult, 1)
	go waitChild(pgid, waits)
	lost := m.Done()
	var grace <-chan time.Time
	wasLost := false
	for {
		select {
		case sig := <-sigs:
			syscall.Kill(-pgid, sig.(syscall.Signal))
		case <-tstp:
			fmt.Fprintf(stderr, "redlock run: not suspending while the command holds the lock %q (it would run on after the lock expired)\n", c.name)
		case w := <-waits:
			switch {
			case w.err != nil:
				return fail(stderr, "run", fmt.Errorf("waiting for the command: %w", w.err), exitFailed)
			case w.status.Stopped() && w.status.StopSignal() == syscall.SIGTSTP:
				// Ctrl-Z on the command's terminal: a stopped job would hold
				// the lock with nobody to resume it, so continue it.
				fmt.Fprintf(stderr, "\nredlock run: the command cannot be suspended while it holds the lock %q; continuing it\n", c.name)
				syscall.Kill(-pgid, syscall.SIGCONT)
			case w.status.Stopped():
				fmt.Fprintf(stderr, "redlock run: the command was stopped (%s); the lock %q is kept alive until it exits\n", unix.SignalName(w.status.StopSignal()), c.name)
			case wasLost:
				return exitLost
			default:
				return exitCode(w.status)
			}
		case <-lost:
			lost, wasLost = nil, true
			fmt.Fprintf(stderr, "redlock run: lost the lock %q while the command ran: %s\n", c.name, lostReason(m.Err()))
			fmt.Fprintf(stderr, "redlock run: stopping the command (SIGTERM, then SIGKILL after %s)\n", c.grace)
			syscall.Kill(-pgid, syscall.SIGTERM)
			syscall.Kill(-pgid, syscall.SIGCONT) // a stopped command must run to see SIGTERM
			grace = time.After(c.grace)
		case <-grace:
			fmt.Fprintf(stderr, "redlock run: the command did not stop within %s; sending SIGKILL\n", c.grace)
			syscall.Kill(-pgid, syscall.SIGKILL)
			grace = nil
		}
	}
}

type waitResult struct {
	status syscall.WaitStatus
	err    error
}

// waitChild reports every stop of the process pid, and its end, on out.
// It returns after the end.
func waitChild(pid int, out chan<- waitResult) {
	for {
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(pid, &ws, syscall.WUNTRACED, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		out <- waitResult{status: ws, err: err}
		if err != nil || ws.Exited() || ws.Signaled() {
			return
		}
	}
}

// releaseLock releases the lock that m acquired, also after a loss, so
// that nothing it still holds on some node waits for its TTL. A release
// that finds the lock gone is reported unless the loss was: the command
// ran under the lock all the same, since a loss during the run would have
// stopped it.
func releaseLock(m holder, stderr io.Writer) {
	lost := m.Err() != nil // reported already
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	if err := m.Unlock(ctx); err != nil && !lost {
		fmt.Fprintf(stderr, "redlock run: warning: releasing the lock: %v\n", err)
	}
}

// exitCode is the shell's exit code for a process that ended with ws.
func exitCode(ws syscall.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return exitSignal + int(ws.Signal())
	}
	return exitFailed
}

// signalCode is the exit code for being ended by sig.
func signalCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return exitSignal + int(s)
	}
	return exitFailed
}

// startCode is the exit code for a command that could not be started.
func startCode(err error) int {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return exitNotFound
	}
	return exitCannotRun
}

// foreground reports whether this process's group is the foreground group
// of the terminal open on fd.
func foreground(fd int) bool {
	pgrp, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return err == nil && pgrp == syscall.Getpgrp()
}

// takeTerminal makes this process's group the foreground group of the
// terminal on fd again, after the command's group had it.
func takeTerminal(fd int) {
	signal.Ignore(syscall.SIGTTOU) // a background group may not set the foreground otherwise
	unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, syscall.Getpgrp())
}

// Command redlock runs a command while holding a distributed lock on Redis,
// so that a job never runs twice at once across hosts.
//
// The lock is Redlock over N independent Redis masters (see the module
// github.com/redlock-go/redlock): it is held when a majority of the nodes
// agree, kept alive while the command runs, and released when it exits.
//
//	redlock run [flags] NAME -- COMMAND [ARGS...]
//	redlock status [flags] NAME
//	redlock break [flags] NAME
//	redlock demo [flags]
//
// Run "redlock help" for the flags, examples and exit codes.
//
// Redlock's safety limits apply (see package core): clocks may drift a
// little but must not jump, and a node restarted without its data forgets
// the locks it granted. When the lock is lost while the command runs, the
// command is stopped, but it may act in between: run it with --fencing and
// let the resource it writes to refuse stale tokens.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Exit codes. Those of run are in its help, runHelp.
const (
	exitUsage       = 2   // bad flags or arguments, bad node URL, too few nodes answer
	exitNotAcquired = 75  // the lock is held by another owner (sysexits' EX_TEMPFAIL: try again later)
	exitLost        = 124 // the lock was lost while the command ran, and it was stopped
	exitFailed      = 125 // redlock itself failed
	exitCannotRun   = 126 // the command was found but could not be run
	exitNotFound    = 127 // the command was not found
	exitSignal      = 128 // plus N: killed by signal N
)

const mainHelp = `redlock runs a command while holding a distributed lock on Redis, so that a
job never runs twice at once across hosts. The lock is Redlock over N
independent Redis masters: it is held when a majority of the nodes agree,
kept alive while the command runs, and released when it exits.

Usage:
  redlock run [flags] NAME -- COMMAND [ARGS...]
        run COMMAND while holding the lock NAME
  redlock status [flags] NAME
        show the lock NAME on every node
  redlock break [flags] NAME
        delete the lock NAME on every node, whoever holds it (asks first)
  redlock demo [flags]
        watch the lock at work; needs no server
  redlock help [COMMAND]
        show the help of a command: its flags, examples and exit codes

Nodes are given by --nodes URL,URL,... or $REDLOCK_NODES, and default to
redis://127.0.0.1:6379/0. Use three or five independent masters (not
replicas of one another) so that the lock outlives the loss of one or two.
A node may also be a Redis Cluster or a Sentinel group, one URL each (see
'redlock help run'). A rediss:// URL verifies the server against the
system's authorities, or those of tls_ca=FILE; tls_cert=FILE&tls_key=FILE
give a client certificate. $REDLOCK_TLS_CA, $REDLOCK_TLS_CERT and
$REDLOCK_TLS_KEY give them to every rediss:// node that does not name its
own.

Examples:
  redlock demo
  redlock run --no-wait nightly-report -- ./report.sh --full
  export REDLOCK_NODES=redis://r1:6379,redis://r2:6379,redis://r3:6379
  redlock run --wait 5m migrate -- ./migrate up
  redlock status migrate

Run 'redlock help run' for the exit codes of run.
`

func main() {
	redis.SetLogger(quiet{}) // redlock says itself what went wrong, once
	os.Exit(mainCode(os.Args[1:], os.Stdout, os.Stderr))
}

// mainCode runs the redlock command line args and returns its exit code.
func mainCode(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainHelp)
		return exitUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		return runCommand(rest, stdout, stderr)
	case "status":
		return statusCommand(rest, stdout, stderr)
	case "break":
		return breakCommand(rest, stdout, stderr)
	case "demo":
		return demoCommand(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		return helpCommand(rest, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "redlock: unknown command %q\nRun 'redlock help' for usage.\n", cmd)
		return exitUsage
	}
}

func helpCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, mainHelp)
		return 0
	}
	switch args[0] {
	case "run", "status", "break", "demo":
		return mainCode([]string{args[0], "--help"}, stdout, stderr)
	}
	fmt.Fprintf(stderr, "redlock help: unknown command %q\nRun 'redlock help' for usage.\n", args[0])
	return exitUsage
}

// quiet is a go-redis logger that drops its lines, such as reconnection
// notices of the release-notification subscription.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// usageError is a mistake in the command line: redlock exits 2 and says
// where to find the usage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// fail reports err for the subcommand cmd on stderr and returns its exit
// code: exitUsage for a usageError, code otherwise.
func fail(stderr io.Writer, cmd string, err error, code int) int {
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "redlock %s: %v\nRun 'redlock %s --help' for usage.\n", cmd, err, cmd)
		return exitUsage
	}
	fmt.Fprintf(stderr, "redlock %s: %v\n", cmd, err)
	return code
}

// newFlagSet returns a FlagSet for the subcommand cmd. Its usage is help,
// with the flags printed in place of the line "{{flags}}". Errors are left
// to parseFlags.
func newFlagSet(cmd, help string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("redlock "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		before, after, _ := strings.Cut(help, "{{flags}}\n")
		fmt.Fprint(stdout, before)
		printFlags(stdout, fs)
		fmt.Fprint(stdout, after)
	}
	return fs
}

// parseFlags parses args with fs. It returns errHelp after printing the
// usage for -h or --help, and a usageError for a bad flag.
func parseFlags(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {} // the flag package calls it on errors too
	err := fs.Parse(args)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return errHelp
	case err != nil:
		return &usageError{msg: err.Error()}
	}
	return nil
}

// errHelp means the usage was asked for and printed: exit 0.
var errHelp = errors.New("help printed")

// printFlags prints the flags of fs as "--name VALUE  usage (default ...)",
// the usage wrapped to fit 80 columns.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	const indent = 24
	fs.VisitAll(func(f *flag.Flag) {
		value, usage := flag.UnquoteUsage(f)
		left := "  --" + f.Name
		if len(f.Name) == 1 {
			left = "  -" + f.Name // such as -n, as flock(1) and consul lock spell it
		}
		if value != "" {
			left += " " + strings.ToUpper(value)
		}
		if len(left) < indent {
			left += strings.Repeat(" ", indent-len(left))
		} else {
			left += "\n" + strings.Repeat(" ", indent)
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0s" && f.DefValue != "0" {
			usage += " (default " + f.DefValue + ")"
		}
		line := left
		width := indent
		for _, word := range strings.Fields(usage) {
			if width > indent && width+1+len(word) > 80 {
				line += "\n" + strings.Repeat(" ", indent)
				width = indent
			} else if width > indent {
				line += " "
				width++
			}
			line += word
			width += len(word)
		}
		fmt.Fprintln(w, line)
	})
}

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/redlock-go/redlock/core"
)

const breakHelp = `Usage: redlock break [flags] NAME

Deletes the lock NAME on every node, whoever holds it: the way out of a lock
whose holder is gone or hung. It first shows the lock as 'redlock status'
does and asks for confirmation on the terminal, unless --yes.

The holder is not asked. A holder that keeps its lock alive (redlock run
does) learns of the break at its next extension, within a third of its TTL,
and stops: redlock run stops its COMMAND and exits 124. Until then it may
still act, and so may a holder paused or cut off from the nodes. What
protects the resource from such late writes is fencing: the lock's fencing
counter is kept, so the next holder's token is higher than the broken
holder's, and a resource that checks tokens (see redlock run --fencing)
refuses the old holder's writes once the new holder has written.

When one owner holds NAME on a quorum of the nodes, only that owner's keys
are deleted: if the lock changes hands between the question and the answer,
nothing is broken. --owner breaks the keys of the owner with that
fingerprint only (the OWNER column of status); otherwise keys of any owner
go.

With -n LIMIT, breaks the slots of the semaphore NAME (all of them, or
those of --owner); with --election, the leader election NAME.

Flags:
{{flags}}

Exit status:
  0   broken: deleted on every node that answered
  1   nothing to break, not confirmed, or the lock changed hands meanwhile
  2   bad flags or arguments, a bad node URL, or too few nodes answered

Examples:
  redlock break nightly-report
  redlock break --yes --owner 8392dc migrate
  redlock break -n 4 --owner 1f0c44 encoders
`

func breakCommand(args []string, stdout, stderr io.Writer) int {
	var (
		nodesFlag, owner string
		yes, election    bool
		limit            int
	)
	fs := newFlagSet("break", breakHelp, stdout)
	fs.StringVar(&nodesFlag, "nodes", "", "comma-separated node `URLs` (default $"+nodesEnv+", else redis://127.0.0.1:6379/0)")
	fs.BoolVar(&yes, "yes", false, "do not ask for confirmation")
	fs.StringVar(&owner, "owner", "", "break only the keys of the owner with this `FINGERPRINT` (the OWNER column of status)")
	fs.IntVar(&limit, "n", 0, "break the slots of the semaphore NAME of `LIMIT` slots (see redlock run -n)")
	fs.BoolVar(&election, "election", false, "break the leader election NAME")
	if err := parseFlags(fs, args); errors.Is(err, errHelp) {
		return 0
	} else if err != nil {
		return fail(stderr, "break", err, exitUsage)
	}
	name, nodes, locker, err := openTarget(fs, limit, election, nodesFlag)
	if err != nil {
		return fail(stderr, "break", err, exitUsage)
	}
	defer closeNodes(nodes)

	ctx := context.Background()
	kind := "lock"
	var infos []*core.LockInfo
	switch {
	case limit > 0:
		kind = "semaphore"
		infos, err = locker.InspectSemaphore(ctx, name, limit)
	case election:
		kind = "election"
		var info *core.LockInfo
		info, err = locker.InspectElection(ctx, name)
		infos = []*core.LockInfo{info}
	default:
		var info *core.LockInfo
		info, err = locker.Inspect(ctx, name)
		infos = []*core.LockInfo{info}
	}
	switch {
	case errors.Is(err, core.ErrNoQuorum):
		printStatus(stdout, name, kind, limit, infos)
		fmt.Fprintf(stderr, "redlock break: too few nodes answered to tell who holds %s %q; nothing broken\n", kind, name)
		return exitUsage
	case err != nil:
		return fail(stderr, "break", err, exitFailed)
	}
	printStatus(stdout, name, kind, limit, infos)
	fmt.Fprintln(stdout)

	what := fmt.Sprintf("%s %q", kind, name)
	if owner == "" && limit == 0 && infos[0].Held {
		owner = infos[0].Owner // only the holder seen: nothing if it changes hands meanwhile
	}
	if !anyKey(infos, owner) {
		if owner != "" {
			fmt.Fprintf(stderr, "redlock break: %s holds no key of %s; nothing to break\n", owner, what)
		} else {
			fmt.Fprintf(stderr, "redlock break: no node holds %s; nothing to break\n", what)
		}
		return 1
	}
	if !yes {
		whose := "whoever holds it"
		if owner != "" {
			whose = "the keys of owner " + owner
		}
		fmt.Fprintf(stderr, "Break %s, deleting %s on every node? Its holder is not asked and may still act\nuntil it notices; only fencing tokens protect the resource from it. [y/N] ", what, whose)
		if !confirmed(os.Stdin) {
			fmt.Fprintf(stderr, "redlock break: not confirmed; nothing broken\n")
			return 1
		}
	}
	var n int
	switch kind {
	case "semaphore":
		n, err = locker.BreakSemaphore(ctx, name, limit, owner)
	case "election":
		n, err = locker.BreakElection(ctx, name, owner)
	default:
		n, err = locker.Break(ctx, name, owner)
	}
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "redlock break: %s may not be broken: %s\n", what, oneLine(err))
		return exitUsage
	case n == 0:
		fmt.Fprintf(stderr, "redlock break: nothing was deleted: %s changed hands, or was released, meanwhile\n", what)
		return 1
	}
	fmt.Fprintf(stdout, "broke %s: deleted %d key(s); its holder learns of it at its next extension\n", what, n)
	return 0
}

// anyKey reports whether some node that answered holds a key of infos, of
// owner's when owner is not "".
func anyKey(infos []*core.LockInfo, owner string) bool {
	for _, info := range infos {
		for _, ni := range info.Nodes {
			if ni.Err == nil && ni.Held && (owner == "" || ni.Owner == owner) {
				return true
			}
		}
	}
	return false
}

// confirmed reads a line from r and reports whether it says yes.
func confirmed(r io.Reader) bool {
	line, _ := bufio.NewReader(r).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

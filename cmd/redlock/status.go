package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlock-go/redlock/core"
)

const statusHelp = `Usage: redlock status [flags] NAME

Shows the lock NAME on every node: whether it is held there, how long its
key has to live (TTL), a fingerprint of its owner (the owner's token itself
is a secret: whoever knows it can release the lock), and the lock's fencing
counter, the highest fencing token handed out so far. A summary line says on
how many nodes the lock is held and whether one owner holds a quorum.

Flags:
{{flags}}

Exit status:
  0   one owner holds NAME on a quorum of the nodes
  1   nobody holds NAME on a quorum of the nodes
  2   bad flags or arguments, a bad node URL, or too few nodes answered to tell

Examples:
  redlock status nightly-report
  redlock status --nodes r1:6379,r2:6379,r3:6379 migrate
`

func statusCommand(args []string, stdout, stderr io.Writer) int {
	var nodesFlag string
	fs := newFlagSet("status", statusHelp, stdout)
	fs.StringVar(&nodesFlag, "nodes", "", "comma-separated node `URLs` (default $"+nodesEnv+", else redis://127.0.0.1:6379/0)")
	if err := parseFlags(fs, args); errors.Is(err, errHelp) {
		return 0
	} else if err != nil {
		return fail(stderr, "status", err, exitUsage)
	}
	switch {
	case fs.NArg() == 0:
		return fail(stderr, "status", usagef("missing NAME"), exitUsage)
	case fs.NArg() > 1:
		return fail(stderr, "status", usagef("one NAME only, got %q", fs.Args()), exitUsage)
	case fs.Arg(0) == "":
		return fail(stderr, "status", usagef("empty lock NAME"), exitUsage)
	}
	name := fs.Arg(0)
	nodes, err := openNodes(nodeList(nodesFlag))
	if err != nil {
		return fail(stderr, "status", usagef("%v", err), exitUsage)
	}
	defer closeNodes(nodes)

	states := readStatus(context.Background(), nodes, name)
	return printStatus(stdout, name, nodes, states)
}

// nodeState is what one node says about a lock.
type nodeState struct {
	err   error
	held  bool
	owner string        // fingerprint of the owner's token
	ttl   time.Duration // remaining time to live of the lock key
	fence string        // the fencing counter; "" when there is none
}

// readStatus reads the lock key, its TTL and the fencing counter from every
// node, in parallel, each read one transaction.
func readStatus(ctx context.Context, nodes []*node, name string) []nodeState {
	states := make([]nodeState, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			var value, fence *redis.StringCmd
			var ttl *redis.DurationCmd
			_, err := n.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
				value = p.Get(ctx, core.Key(name))
				ttl = p.PTTL(ctx, core.Key(name))
				fence = p.Get(ctx, core.FenceKey(name))
				return nil
			})
			if err != nil && !errors.Is(err, redis.Nil) {
				states[i].err = err
				return
			}
			if v, err := value.Result(); err == nil {
				states[i].held, states[i].owner, states[i].ttl = true, fingerprint(v), ttl.Val()
			}
			states[i].fence = fence.Val()
		}()
	}
	wg.Wait()
	return states
}

// fingerprint names the owner of a lock value (owner token, "|", then
// the claims, the token and their count in hex digits; see core's
// acquire.lua) without revealing the token.
func fingerprint(value string) string {
	if i := strings.LastIndexByte(value, '|'); i >= 0 {
		value = value[:i]
	}
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:3])
}

// printStatus prints the table and the summary, and returns the exit code.
func printStatus(w io.Writer, name string, nodes []*node, states []nodeState) int {
	n, q := len(nodes), quorum(len(nodes))
	fmt.Fprintf(w, "lock %q (key %s), %d nodes, quorum %d\n\n", name, core.Key(name), n, q)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tTTL\tOWNER\tFENCE")
	var notes []string
	held, answered := 0, 0
	owners := map[string]int{}
	for i, s := range states {
		addr := nodes[i].addr
		switch {
		case s.err != nil:
			state := "down"
			var reply redis.Error
			if errors.As(s.err, &reply) {
				state = "error" // the server answered, with an error
			}
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\n", addr, state)
			notes = append(notes, fmt.Sprintf("%s: %s", addr, oneLine(s.err)))
			continue
		case s.held:
			held++
			owners[s.owner]++
			ttl := "none"
			if s.ttl >= 0 {
				ttl = short(s.ttl)
			}
			fmt.Fprintf(tw, "%s\theld\t%s\t%s\t%s\n", addr, ttl, s.owner, dash(s.fence))
		default:
			fmt.Fprintf(tw, "%s\tfree\t-\t-\t%s\n", addr, dash(s.fence))
		}
		answered++
	}
	tw.Flush()
	for _, note := range notes {
		fmt.Fprintln(w, note)
	}

	best := 0
	for _, c := range owners {
		best = max(best, c)
	}
	summary := fmt.Sprintf("held on %d of %d nodes", held, n)
	if len(owners) > 1 {
		summary += fmt.Sprintf(" by %d different owners", len(owners))
	}
	code := 1
	switch {
	case best >= q:
		summary += fmt.Sprintf("; quorum (%d): yes", q)
		code = 0
	case answered < q:
		summary += fmt.Sprintf("; quorum (%d): unknown, only %d node(s) answered", q, answered)
		code = exitUsage
	default:
		summary += fmt.Sprintf("; quorum (%d): no", q)
	}
	fmt.Fprintf(w, "\n%s\n", summary)
	return code
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

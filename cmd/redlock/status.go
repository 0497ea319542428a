package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/redis/go-redis/v9"

	"github.com/redlock-go/redlock/core"
)

const statusHelp = `Usage: redlock status [flags] NAME

Shows the lock NAME on every node: whether it is held there, how long its
key has to live (TTL), a fingerprint of its owner (the owner's token itself
is a secret: whoever knows it can release the lock), the lock's fencing
counter (the highest fencing token handed out so far), and the metadata its
owner stored with it (redlock run --metadata), when some owner has any. A
summary line says on how many nodes the lock is held and whether one owner
holds a quorum.

With -n LIMIT, shows the semaphore NAME of LIMIT slots instead, slot by
slot; with --election, the leader election NAME, whose metadata is the
leader's value. With --json, prints the same as one JSON object.

Flags:
{{flags}}

Exit status:
  0   one owner holds NAME on a quorum of the nodes (with -n: some slot)
  1   nobody holds NAME on a quorum of the nodes (with -n: no slot)
  2   bad flags or arguments, a bad node URL, or too few nodes answered to tell

Examples:
  redlock status nightly-report
  redlock status --nodes r1:6379,r2:6379,r3:6379 migrate
  redlock status -n 4 --json encoders
  redlock status --election scheduler
`

func statusCommand(args []string, stdout, stderr io.Writer) int {
	var (
		nodesFlag string
		asJSON    bool
		limit     int
		election  bool
	)
	fs := newFlagSet("status", statusHelp, stdout)
	fs.StringVar(&nodesFlag, "nodes", "", "comma-separated node `URLs` (default $"+nodesEnv+", else redis://127.0.0.1:6379/0)")
	fs.BoolVar(&asJSON, "json", false, "print the status as JSON")
	fs.IntVar(&limit, "n", 0, "show the semaphore NAME of `LIMIT` slots (see redlock run -n)")
	fs.BoolVar(&election, "election", false, "show the leader election NAME")
	if err := parseFlags(fs, args); errors.Is(err, errHelp) {
		return 0
	} else if err != nil {
		return fail(stderr, "status", err, exitUsage)
	}
	name, nodes, locker, err := openTarget(fs, limit, election, nodesFlag)
	if err != nil {
		return fail(stderr, "status", err, exitUsage)
	}
	defer closeNodes(nodes)

	ctx := context.Background()
	var infos []*core.LockInfo
	kind := "lock"
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
	case err != nil && !errors.Is(err, core.ErrNoQuorum):
		return fail(stderr, "status", err, exitFailed)
	case asJSON:
		return printStatusJSON(stdout, name, kind, limit, infos)
	}
	return printStatus(stdout, name, kind, limit, infos)
}

// statusCode is the exit code for infos: 0 when one is held, else 2 when
// too few nodes answered to tell, else 1.
func statusCode(infos []*core.LockInfo) int {
	for _, info := range infos {
		if info.Held {
			return 0
		}
	}
	if infos[0].Answered < infos[0].Quorum {
		return exitUsage
	}
	return 1
}

// printStatus prints the table and the summary of a lock (limit 0) or of
// the slots of a semaphore, and returns the exit code.
func printStatus(w io.Writer, name, kind string, limit int, infos []*core.LockInfo) int {
	first := infos[0]
	n, q := len(first.Nodes), first.Quorum
	if limit > 0 {
		fmt.Fprintf(w, "semaphore %q (keys %s to %s), %d slots, %d nodes, quorum %d\n\n",
			name, core.SlotKey(name, 0), core.SlotKey(name, limit-1), limit, n, q)
	} else {
		fmt.Fprintf(w, "%s %q (key %s), %d nodes, quorum %d\n\n", kind, name, first.Key, n, q)
	}
	// The METADATA column only when some owner has metadata.
	showMeta := false
	for _, info := range infos {
		for _, ni := range info.Nodes {
			showMeta = showMeta || ni.Metadata != ""
		}
	}
	meta := func(s string) string {
		if !showMeta {
			return ""
		}
		return "\t" + s
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if limit > 0 {
		fmt.Fprint(tw, "SLOT\t")
	}
	fmt.Fprintf(tw, "NODE\tSTATE\tTTL\tOWNER\tFENCE%s\n", meta("METADATA"))
	for slot, info := range infos {
		for _, ni := range info.Nodes {
			if limit > 0 {
				fmt.Fprintf(tw, "%d\t", slot)
			}
			switch {
			case ni.Err != nil:
				fmt.Fprintf(tw, "%s\t%s\t-\t-\t-%s\n", ni.Addr, nodeState(ni.Err), meta("-"))
			case ni.Held:
				ttl := "none"
				if ni.TTL >= 0 {
					ttl = short(ni.TTL)
				}
				fmt.Fprintf(tw, "%s\theld\t%s\t%s\t%s%s\n", ni.Addr, ttl, dash(ni.Owner), counter(ni.Fence), meta(quoted(ni.Metadata)))
			default:
				fmt.Fprintf(tw, "%s\tfree\t-\t-\t%s%s\n", ni.Addr, counter(ni.Fence), meta("-"))
			}
		}
	}
	tw.Flush()
	for _, ni := range first.Nodes {
		if ni.Err != nil {
			fmt.Fprintf(w, "%s: %s\n", ni.Addr, oneLine(nodeCause(ni.Err)))
		}
	}
	fmt.Fprintln(w)
	held := 0
	for slot, info := range infos {
		line := summary(info)
		if limit > 0 {
			line = fmt.Sprintf("slot %d: %s", slot, line)
		}
		fmt.Fprintln(w, line)
		if info.Held {
			held++
		}
	}
	if limit > 0 {
		fmt.Fprintf(w, "%d of %d slots held\n", held, limit)
	}
	return statusCode(infos)
}

// summary is the one-line verdict on one lock.
func summary(info *core.LockInfo) string {
	held := 0
	owners := map[string]bool{}
	for _, ni := range info.Nodes {
		if ni.Err == nil && ni.Held {
			held++
			owners[ni.Owner] = true
		}
	}
	s := fmt.Sprintf("held on %d of %d nodes", held, len(info.Nodes))
	if len(owners) > 1 {
		s += fmt.Sprintf(" by %d different owners", len(owners))
	}
	switch {
	case info.Held:
		s += fmt.Sprintf("; quorum (%d): yes, owner %s", info.Quorum, info.Owner)
		if info.Metadata != "" {
			s += " " + strconv.Quote(info.Metadata)
		}
	case info.Answered < info.Quorum:
		s += fmt.Sprintf("; quorum (%d): unknown, only %d node(s) answered", info.Quorum, info.Answered)
	default:
		s += fmt.Sprintf("; quorum (%d): no", info.Quorum)
	}
	return s
}

// nodeState names a node that did not answer: "error" when its server
// answered with an error, "down" otherwise.
func nodeState(err error) string {
	var reply redis.Error
	if errors.As(err, &reply) {
		return "error"
	}
	return "down"
}

// nodeCause is what a node's client said, without core's "node ADDR: ".
func nodeCause(err error) error {
	var ne *core.NodeError
	if errors.As(err, &ne) {
		return ne.Err
	}
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func quoted(s string) string {
	if s == "" {
		return "-"
	}
	return strconv.Quote(s)
}

func counter(v uint64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatUint(v, 10)
}

// The JSON form of the status.
type (
	jsonStatus struct {
		Name     string     `json:"name"`
		Kind     string     `json:"kind"` // "lock", "semaphore" or "election"
		Limit    int        `json:"limit,omitempty"`
		Nodes    int        `json:"nodes"`
		Quorum   int        `json:"quorum"`
		Answered int        `json:"answered"`
		Held     bool       `json:"held"` // the lock, or some slot, is held by one owner on a quorum
		Lock     *jsonLock  `json:"lock,omitempty"`
		Slots    []jsonLock `json:"slots,omitempty"`
	}
	jsonLock struct {
		Key      string     `json:"key"`
		Held     bool       `json:"held"`
		Owner    string     `json:"owner,omitempty"`
		Metadata string     `json:"metadata,omitempty"`
		HeldOn   int        `json:"held_on,omitempty"`
		Token    uint64     `json:"token,omitempty"`
		Fence    uint64     `json:"fence"`
		Nodes    []jsonNode `json:"nodes"`
	}
	jsonNode struct {
		Addr     string `json:"addr"`
		State    string `json:"state"` // "held", "free", "down" or "error"
		TTLms    int64  `json:"ttl_ms,omitempty"`
		Owner    string `json:"owner,omitempty"`
		Metadata string `json:"metadata,omitempty"`
		Token    uint64 `json:"token,omitempty"`
		Fence    uint64 `json:"fence"`
		Error    string `json:"error,omitempty"`
	}
)

func printStatusJSON(w io.Writer, name, kind string, limit int, infos []*core.LockInfo) int {
	first := infos[0]
	out := jsonStatus{Name: name, Kind: kind, Limit: limit, Nodes: len(first.Nodes), Quorum: first.Quorum, Answered: first.Answered}
	for _, info := range infos {
		jl := jsonLock{Key: info.Key, Held: info.Held, Owner: info.Owner, Metadata: info.Metadata, HeldOn: info.HeldOn,
			Token: info.Token, Fence: info.Fence, Nodes: []jsonNode{}}
		for _, ni := range info.Nodes {
			jn := jsonNode{Addr: ni.Addr, State: "free", Fence: ni.Fence}
			switch {
			case ni.Err != nil:
				jn.State, jn.Error = nodeState(ni.Err), oneLine(nodeCause(ni.Err))
			case ni.Held:
				jn.State, jn.TTLms, jn.Owner, jn.Metadata, jn.Token = "held", ni.TTL.Milliseconds(), ni.Owner, ni.Metadata, ni.Token
				if ni.TTL < 0 {
					jn.TTLms = -1
				}
			}
			jl.Nodes = append(jl.Nodes, jn)
		}
		out.Held = out.Held || info.Held
		if limit > 0 {
			out.Slots = append(out.Slots, jl)
		} else {
			out.Lock = &jl
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
	return statusCode(infos)
}

// openTarget checks the NAME, -n LIMIT and --election of status and break
// (parsed by fs), and opens the nodes and a Locker over them; the caller
// closes the nodes. Its errors are usage errors.
func openTarget(fs *flag.FlagSet, limit int, election bool, nodesFlag string) (string, []*node, *core.Locker, error) {
	switch {
	case fs.NArg() == 0:
		return "", nil, nil, usagef("missing NAME")
	case fs.NArg() > 1:
		return "", nil, nil, usagef("one NAME only, got %q", fs.Args())
	case fs.Arg(0) == "":
		return "", nil, nil, usagef("empty lock NAME")
	case limit < 0 || limit > core.MaxLimit || (limit == 0 && limitGiven(fs)):
		return "", nil, nil, usagef("-n must be from 1 to %d, got %d", core.MaxLimit, limit)
	case election && limitGiven(fs):
		return "", nil, nil, usagef("-n and --election exclude each other")
	}
	nodes, err := openNodes(nodeList(nodesFlag))
	if err != nil {
		return "", nil, nil, usagef("%v", err)
	}
	locker, err := core.New(lockNodes(nodes), core.WithNodeTimeout(probeTimeout))
	if err != nil {
		closeNodes(nodes)
		return "", nil, nil, usagef("%v", err)
	}
	return fs.Arg(0), nodes, locker, nil
}

package core

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// ErrNoQuorum means an inspection could not tell whether a lock is held:
// fewer than a quorum of the nodes answered.
var ErrNoQuorum = errors.New("redlock: too few nodes answered to tell")

// LockInfo is what Inspect read of one lock on every node: a snapshot,
// which may be out of date by the time it is read.
type LockInfo struct {
	Name     string         // the lock's name; "name[i]" for slot i of a semaphore
	Key      string         // its lock key (Key, SlotKey or ElectionKey)
	Quorum   int            // the nodes that must agree
	Nodes    []NodeLockInfo // by node, in the order given to New
	Answered int            // the nodes that answered

	// Held is set when one owner holds the lock on a quorum of the nodes.
	// Owner, Metadata, HeldOn and Token then describe that owner.
	Held     bool
	Owner    string // its fingerprint (see Fingerprint)
	Metadata string // its metadata (see WithMetadata)
	HeldOn   int    // the nodes on which it holds the lock
	Token    uint64 // the highest fencing token committed on its keys, 0 without fencing

	// Fence is the highest fencing counter read: the last token handed out
	// for the lock, 0 when none was.
	Fence uint64
}

// NodeLockInfo is what one node holds of a lock.
type NodeLockInfo struct {
	Addr string // the node's address (Node.Addr)
	Err  error  // why the node did not answer, a *NodeError; nil when it did

	Held     bool          // the lock key exists on the node
	TTL      time.Duration // the lock key's remaining time to live; -1 when it has none
	Owner    string        // the fingerprint of its owner (see Fingerprint); "" for a value that is not a lock's
	Metadata string        // its owner's metadata (see WithMetadata)
	Token    uint64        // the fencing token committed on the key, 0 if none
	Fence    uint64        // the node's fencing counter of the lock, 0 if none
}

// lockRef names a lock to inspect: its name in the LockInfo and its lock
// key (the fencing counter is the key with ":fence").
type lockRef struct{ name, key string }

// Inspect reads the lock called name (a Mutex's lock) on every node,
// through one read-only script per node, each bounded by the node timeout:
// node by node whether it is held, for how long, by which owner (its
// fingerprint, never its ID, which would let the reader release it) with
// which metadata, the fencing counter and token; and overall whether one
// owner holds a quorum. It writes nothing.
//
// The LockInfo comes back even on failure, with what the nodes that
// answered said. The error wraps ErrNoQuorum and a NodeError for each node
// that did not answer when fewer than a quorum did (then Held cannot be
// told from the nodes that answered), and ctx.Err() when ctx ended. An
// invalid name is an error without a LockInfo.
func (l *Locker) Inspect(ctx context.Context, name string) (*LockInfo, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	infos, err := l.inspect(ctx, name, []lockRef{{name, Key(name)}})
	return infos[0], err
}

// InspectSemaphore reads the limit slots of the semaphore called name, as
// Inspect reads a lock, in one round: one LockInfo per slot, in slot
// order. The owners that hold the semaphore are those of the slots that
// are Held. It returns the errors of Inspect, and an error for a limit
// NewSemaphore would refuse.
func (l *Locker) InspectSemaphore(ctx context.Context, name string, limit int) ([]*LockInfo, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if limit < 1 || limit > MaxLimit {
		return nil, errors.New("redlock: semaphore " + strconv.Quote(name) + ": the limit must be from 1 to " + strconv.Itoa(MaxLimit))
	}
	refs := make([]lockRef, limit)
	for i := range refs {
		refs[i] = lockRef{slotName(name, i), SlotKey(name, i)}
	}
	return l.inspect(ctx, name, refs)
}

func (l *Locker) inspect(ctx context.Context, name string, refs []lockRef) ([]*LockInfo, error) {
	return inspectLocks(ctx, &l.c.nodeSet, l.pol.nodeTimeout, name, refs)
}

// inspectLocks reads the locks of refs on the nodes of c in one round,
// each call bounded by timeout, and returns one LockInfo for each; the
// error is named name.
func inspectLocks(ctx context.Context, c *nodeSet, timeout time.Duration, name string, refs []lockRef) ([]*LockInfo, error) {
	keys := make([]string, 0, 2*len(refs))
	for _, ref := range refs {
		keys = append(keys, ref.key, ref.key+":fence")
	}
	r := c.run(ctx, timeout, inspectCall(keys), everyNode)
	infos := make([]*LockInfo, len(refs))
	for k, ref := range refs {
		info := &LockInfo{Name: ref.name, Key: ref.key, Quorum: c.quorum, Nodes: make([]NodeLockInfo, len(c.nodes))}
		prefixes := make([]string, len(c.nodes)) // the owner prefix at each node, to tell owners apart
		for i, n := range c.nodes {
			ni := &info.Nodes[i]
			ni.Addr = n.Addr()
			rep := r.t.replies[i]
			switch {
			case !r.t.answered[i]:
				ni.Err = &NodeError{Addr: ni.Addr, Err: ErrNodeTimeout}
				if ctx.Err() != nil {
					ni.Err = &NodeError{Addr: ni.Addr, Err: ctx.Err()}
				}
				continue
			case rep.state == failed:
				ni.Err = rep.err
				continue
			}
			info.Answered++
			prefixes[i] = ni.read((*rep.read)[3*k:])
			info.Fence = max(info.Fence, ni.Fence)
		}
		info.judge(prefixes)
		infos[k] = info
	}
	if answered := infos[0].Answered; answered < c.quorum {
		errs := make([]error, 0, len(c.nodes))
		for _, ni := range infos[0].Nodes {
			if ni.Err != nil {
				errs = append(errs, ni.Err)
			}
		}
		return infos, failure(ctx, name, ErrNoQuorum, errs)
	}
	return infos, nil
}

// read fills ni from the three values inspect.lua returned for its lock,
// and returns the owner prefix of the value ("" when there is none). The
// prefix holds the owner ID, which must not leave core: whoever has it can
// release the lock.
func (ni *NodeLockInfo) read(values []any) string {
	value, _ := values[0].(string)
	pttl, _ := values[1].(int64)
	counter, _ := values[2].(string)
	ni.Fence, _ = strconv.ParseUint(counter, 10, 64)
	if value == "" {
		return ""
	}
	ni.Held = true
	ni.TTL = time.Duration(pttl) * time.Millisecond
	if pttl < 0 {
		ni.TTL = -1
	}
	v, ok := parseValue(value)
	if !ok {
		return ""
	}
	ni.Owner, ni.Metadata, ni.Token = Fingerprint(v.id), v.meta, v.token
	return v.prefix
}

// judge sets Held and the holder's fields when one owner holds the lock on
// a quorum of the nodes that answered; prefixes are the owner prefixes
// read at each node.
func (info *LockInfo) judge(prefixes []string) {
	count := map[string]int{}
	for _, prefix := range prefixes {
		if prefix != "" {
			count[prefix]++
		}
	}
	for prefix, n := range count {
		if n < info.Quorum {
			continue
		}
		info.Held, info.HeldOn = true, n
		for i, ni := range info.Nodes {
			if prefixes[i] == prefix {
				info.Owner, info.Metadata = ni.Owner, ni.Metadata
				info.Token = max(info.Token, ni.Token)
			}
		}
	}
}

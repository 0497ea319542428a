package core

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/redlock-go/redlock/granularity"
)

// Locker holds the nodes of one Redlock deployment and the default options
// for its locks. It is the factory of Mutex values and is safe for
// concurrent use.
type Locker struct {
	nodes      []Node
	quorum     int
	opts       options
	keeper     *keeper
	deployment string  // the nodes' sorted addresses: Lockers over the same servers share wait queues
	byAddr     []int   // node indexes in the order of their addresses
	pending    pending // node calls running in the background (see Wait)
}

// New returns a Locker over nodes, independent Redis masters, with opts as
// the defaults of every lock it makes.
//
// It returns an error, and no Locker, when nodes is empty, holds a nil Node,
// holds two Nodes with the same Addr, or when an option is invalid.
func New(nodes []Node, opts ...Option) (*Locker, error) {
	if len(nodes) == 0 {
		return nil, errors.New("redlock: no nodes")
	}
	seen := make(map[string]int, len(nodes))
	for i, n := range nodes {
		if n == nil {
			return nil, fmt.Errorf("redlock: node %d is nil", i)
		}
		addr := n.Addr()
		if j, dup := seen[addr]; dup {
			return nil, fmt.Errorf("redlock: nodes %d and %d are the same node %s", j, i, addr)
		}
		seen[addr] = i
	}
	o := defaultOptions()
	if err := o.apply(opts); err != nil {
		return nil, err
	}
	addrs := slices.Sorted(maps.Keys(seen))
	l := &Locker{nodes: slices.Clone(nodes), quorum: len(nodes)/2 + 1, opts: o, deployment: strings.Join(addrs, ",")}
	for _, addr := range addrs {
		l.byAddr = append(l.byAddr, seen[addr])
	}
	l.keeper = newKeeper(l)
	return l, nil
}

// Nodes returns the Locker's nodes, in the order given to New.
func (l *Locker) Nodes() []Node { return slices.Clone(l.nodes) }

// Quorum is the number of nodes that must agree: N/2+1.
func (l *Locker) Quorum() int { return l.quorum }

// NewMutex returns a handle for the lock called name, with opts overriding
// the Locker's defaults. It does not touch the network.
//
// An empty name or an invalid option does not panic: every method of the
// returned Mutex then returns that error.
func (l *Locker) NewMutex(name string, opts ...Option) *Mutex {
	o := l.opts
	err := o.apply(opts)
	if name == "" {
		err = errNoName
	}
	m := &Mutex{
		locker: l,
		name:   name,
		keys:   []string{Key(name), FenceKey(name)},
		opts:   o,
		err:    err,
		handle: granularity.Random(),
		ttlms:  strconv.FormatInt(o.ttl.Milliseconds(), 10),
		gate:   l.gateOf(name),
	}
	return m
}

// Key returns the Redis key that holds the lock called name on every node:
// "redlock:{" + name + "}". The braces make it a cluster hash tag, so keys
// that belong to one lock share a slot.
func Key(name string) string { return "redlock:{" + name + "}" }

// FenceKey returns the Redis key of the fencing counter of the lock called
// name (see WithFencing): an integer with no TTL, in the same cluster hash
// slot as Key(name).
func FenceKey(name string) string { return Key(name) + ":fence" }

// gateOf returns the gate node of the lock called name (see
// Mutex.TryLock). It depends on the name and the nodes' addresses, not on
// their order, so that processes that list the nodes in different orders
// still meet at the same gate; names are spread over the nodes.
func (l *Locker) gateOf(name string) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return l.byAddr[h.Sum32()%uint32(len(l.nodes))]
}

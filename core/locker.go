package core

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Locker holds the nodes of one Redlock deployment and the default options
// for its locks. It is the factory of Mutex values and is safe for
// concurrent use.
type Locker struct {
	c    *cluster
	opts options
	pol  *policy // opts resolved: the policy of a Mutex made without options
}

// New returns a Locker over nodes, independent Redis masters, with opts as
// the defaults of every lock it makes.
//
// It returns an error, and no Locker, when nodes is empty, holds a nil Node,
// holds two Nodes with the same Addr, or when an option is invalid or the
// options cannot work together (see WithNodeTimeout).
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
	pol, err := o.resolve(len(nodes))
	if err != nil {
		return nil, err
	}
	addrs := slices.Sorted(maps.Keys(seen))
	c := &cluster{nodeSet: newNodeSet(slices.Clone(nodes)), deployment: strings.Join(addrs, ",")}
	for _, addr := range addrs {
		c.byAddr = append(c.byAddr, seen[addr])
	}
	c.keeper = newKeeper(&c.nodeSet)
	return &Locker{c: c, opts: o, pol: pol}, nil
}

// Nodes returns the Locker's nodes, in the order given to New.
func (l *Locker) Nodes() []Node { return slices.Clone(l.c.nodes) }

// Quorum is the number of nodes that must agree: N/2+1.
func (l *Locker) Quorum() int { return l.c.quorum }

// NewMutex returns a handle for the lock called name, with opts overriding
// the Locker's defaults. It does not touch the network.
//
// A name may be any string but the empty one and one that begins with "}":
// the lock's keys share a Redis Cluster hash tag, the name up to its first
// "}" (see Key), and such a name would leave the tag empty, putting the
// lock and its fencing counter in different slots. An invalid name, an
// invalid option or options that cannot work together (see
// WithNodeTimeout) do not panic: every method of the returned Mutex then
// returns that error.
func (l *Locker) NewMutex(name string, opts ...Option) *Mutex {
	m := &Mutex{c: l.c, t: l.c.target(name), handle: newHandle()}
	m.pol, m.err = l.policyOf(opts)
	if err := checkName(name); err != nil {
		m.err = err
	}
	return m
}

// policyOf returns the policy of a lock made with opts over the Locker's
// defaults, or the options' error.
func (l *Locker) policyOf(opts []Option) (*policy, error) {
	if len(opts) == 0 {
		return l.pol, nil
	}
	o := l.opts
	if err := o.apply(opts); err != nil {
		return l.pol, err
	}
	return o.resolve(len(l.c.nodes))
}

// Wait blocks until every node call of the Locker's Mutexes that was still
// running in the background has finished, or until ctx ends (it then
// returns ctx.Err()).
//
// Rounds return as soon as their outcome is decided, and finish the rest
// in the background: a node that answers after a failed round is released
// again, an acquire still in flight at Unlock is released when it lands,
// and Unlock returns once a quorum and the lock's gate node have released,
// with the other releases on their way. Each of those calls is bounded by
// the node timeout. The undo of a failed round on a node whose call failed
// after it may have been sent, a release that failed (before or after
// Unlock returned), and a release that found nothing on a node where the
// holding's own acquire may still land, are asked again for up to about
// three node timeouts (see TryLock): after Unlock and
// Wait, no key of the lock is left on a node that answered by then. A
// program that closes its Redis clients or exits right after Unlock can cut
// them off and leave a key on a minority of nodes until its TTL; call Wait
// first.
func (l *Locker) Wait(ctx context.Context) error { return l.c.pending.wait(ctx) }

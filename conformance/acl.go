package conformance

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/retry"
)

// MinimalACL is the smallest set of rights a lock user needs, as the
// arguments of ACL SETUSER after the user's name and password: the keys
// under "redlock:", the release channels (written as the very pattern
// that waiters subscribe to, since the server compares a PSUBSCRIBE
// pattern with the allowed ones literally), the scripts (EVALSHA, and EVAL for a
// server that lost them), the commands the scripts run, the pattern
// subscription that wakes waiters, and what clients send when they
// connect (HELLO, AUTH, SELECT for a database other than 0, PING). Clients
// that also send CLIENT SETINFO (Redis 7.2 and later) go on without it.
var MinimalACL = []string{
	"resetkeys", "~redlock:*", "resetchannels", "&redlock:*:released", "-@all",
	"+evalsha", "+eval", "+get", "+set", "+del", "+pttl", "+pexpire", "+setrange", "+publish",
	"+psubscribe", "+punsubscribe", "+hello", "+auth", "+select", "+ping",
}

// aclCases prove that an adapter works as a user with MinimalACL, and that
// what the server refuses such a user is a rejected command, not
// contention.
var aclCases = []testCase{
	{"ACLMinimalUser", 1, testACLMinimal, true},
	{"ACLMissingRight", 3, testACLMissingRight, true},
}

// setUser creates the ACL user name with urlPassword and rights on s.
func (f *Fixture) setUser(s *Server, name string, rights ...string) {
	f.T.Helper()
	_, err := s.Do(append([]string{"ACL", "SETUSER", name, "reset", "on", ">" + urlPassword}, rights...)...)
	require.NoError(f.T, err)
}

// testACLMinimal runs a lock's life as a user with MinimalACL: fenced
// acquisition, extension, release, and a waiting Lock woken by the release.
func testACLMinimal(f *Fixture) {
	s := f.Servers[0]
	f.setUser(s, "locker", MinimalACL...)
	nodes := make([]core.Node, 3)
	for i := range nodes {
		nodes[i] = f.fromURLOK("redis://"+urlUserinfo("locker")+"@"+s.Addr+"/0", s.Addr)
	}
	// One Node per Locker: the three Lockers share the one server.
	lockers := make([]*core.Locker, 3)
	for i, n := range nodes {
		l, err := core.New([]core.Node{n}, core.WithFencing(), core.WithRetry(retry.Constant(time.Minute, 10)))
		require.NoError(f.T, err)
		lockers[i] = l
	}
	m := lockers[0].NewMutex("acl")
	require.NoError(f.T, m.TryLock(f.Ctx), "lock as the minimal user")
	first := m.Fence()
	require.NoError(f.T, m.Extend(f.Ctx))

	waiter := lockers[1].NewMutex("acl")
	got := make(chan error, 1)
	go func() { got <- waiter.Lock(f.Ctx) }()
	f.waitSubscribed(s, "redlock:*")
	require.NoError(f.T, m.Unlock(f.Ctx))
	select {
	case err := <-got:
		require.NoError(f.T, err, "the waiter is woken by the release (its retry delay is a minute)")
	case <-f.Ctx.Done():
		f.T.Fatal("the waiter was not woken by the release")
	}
	assert.Greater(f.T, waiter.Fence(), first, "fencing tokens go up")
	require.NoError(f.T, waiter.Unlock(f.Ctx))
	for _, l := range lockers {
		require.NoError(f.T, l.Wait(f.Ctx))
	}
}

// waitSubscribed waits until s has a pattern subscription to pattern.
func (f *Fixture) waitSubscribed(s *Server, pattern string) {
	f.T.Helper()
	require.Eventually(f.T, func() bool {
		v, err := s.Do("PUBSUB", "NUMPAT")
		return err == nil && v.(int64) > 0
	}, 5*time.Second, 2*time.Millisecond, "no subscription to %s", pattern)
}

// testACLMissingRight: over three nodes, the lock user lacks a right on
// two (a key pattern on one, EVALSHA and EVAL on the other). Lock returns
// at once with ErrNodeRejected and NodeErrors that name those nodes and say
// NOPERM, instead of retrying until ctx ends; a wrong password is a
// rejected command too, at the first call.
func testACLMissingRight(f *Fixture) {
	f.setUser(f.Servers[0], "locker", MinimalACL...)
	f.setUser(f.Servers[1], "locker", append(MinimalACL[:0:0], "resetkeys", "~other:*", "resetchannels", "&redlock:*", "+@all")...)
	f.setUser(f.Servers[2], "locker", append(append(MinimalACL[:0:0], MinimalACL...), "-evalsha", "-eval")...)
	var nodes []core.Node
	for _, s := range f.Servers {
		nodes = append(nodes, f.fromURLOK("redis://"+urlUserinfo("locker")+"@"+s.Addr+"/0", s.Addr))
	}
	never := core.WithRetry(retry.Constant(time.Millisecond, 0)) // gives up only when ctx ends
	l, err := core.New(nodes, never)
	require.NoError(f.T, err)
	ctx, cancel := context.WithTimeout(f.Ctx, 10*time.Second)
	defer cancel()
	err = l.NewMutex("acl").Lock(ctx)
	require.ErrorIs(f.T, err, core.ErrNotAcquired)
	require.ErrorIs(f.T, err, core.ErrNodeRejected)
	assert.NoError(f.T, ctx.Err(), "Lock retried a rejected command until ctx ended")
	rejected := map[string]bool{}
	for _, e := range nodeErrors(err) {
		if errors.Is(e, core.ErrNodeRejected) {
			rejected[e.Addr] = true
			assert.Contains(f.T, e.Error(), "NOPERM")
		}
	}
	assert.Equal(f.T, map[string]bool{nodes[1].Addr(): true, nodes[2].Addr(): true}, rejected)
	f.noPassword(err)
	require.NoError(f.T, l.Wait(f.Ctx))

	wrong := f.fromURLOK("redis://locker:wrong-password@"+f.Servers[0].Addr+"/0", f.Servers[0].Addr)
	lw, err := core.New([]core.Node{wrong}, never)
	require.NoError(f.T, err)
	err = lw.NewMutex("acl").Lock(ctx)
	require.ErrorIs(f.T, err, core.ErrNodeRejected, "a wrong password")
	assert.True(f.T, strings.Contains(err.Error(), "WRONGPASS") || strings.Contains(err.Error(), "invalid username-password"), "the error says the password is wrong: %v", err)
	assert.NoError(f.T, ctx.Err())
}

// nodeErrors returns the NodeErrors in err's tree.
func nodeErrors(err error) []*core.NodeError {
	var out []*core.NodeError
	var walk func(error)
	walk = func(err error) {
		var ne *core.NodeError
		if errors.As(err, &ne) && err == error(ne) {
			out = append(out, ne)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

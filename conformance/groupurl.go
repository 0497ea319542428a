package conformance

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
)

// RunGroupURLs runs the URL cases of the forms that name a Sentinel group
// (master_name=) and a Redis Cluster (addr=) against an adapter's
// NewNodeFromURL, on a group and a cluster of their own: the Node's Addr,
// locks through the master with the URL's password and database, the
// synonym master_set=, and refusals (a wrong or missing password, an
// unknown master name) that show no password. An adapter whose client has
// no cluster or sentinel support refuses these URLs instead, and has no
// use for RunGroupURLs.
func RunGroupURLs(t *testing.T, h URLHarness) {
	for _, c := range []struct {
		name string
		run  func(f *Fixture)
	}{
		{"SentinelURL", testSentinelURL},
		{"ClusterURL", testClusterURL},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), sentinelCaseTimeout)
			t.Cleanup(cancel)
			c.run(&Fixture{T: t, Ctx: ctx, h: h})
		})
	}
}

// testSentinelURL: a Node from a Sentinel URL locks on the master, in the
// URL's database, logged in with the URL's password; the sentinels are
// asked without it.
func testSentinelURL(f *Fixture) {
	g := StartSentinelGroup(f.T)
	g.RequirePass(f.T, urlPassword)
	master := g.Master(f.T)
	s := g.SentinelAddrs()
	addr := g.MasterName + "(" + strings.Join(s, ",") + ")"

	raw := fmt.Sprintf("redis://%s@%s/3?addr=%s&master_name=%s&addr=%s", urlUserinfo(""), s[0], s[1], g.MasterName, s[2])
	f.lockIn(f.fromURLOK(raw, addr), master, 3, "sentinel-url")
	one := fmt.Sprintf("rediss://%s@%s?master_set=%s", urlUserinfo(""), s[0], g.MasterName)
	f.fromURLOK(one, g.MasterName+"("+s[0]+")") // not dialled: the sentinels do not speak TLS
	one = fmt.Sprintf("redis://%s@%s?master_set=%s", urlUserinfo(""), s[0], g.MasterName)
	f.lockIn(f.fromURLOK(one, g.MasterName+"("+s[0]+")"), master, 0, "sentinel-url-set")

	wrong := fmt.Sprintf("redis://%s@%s?master_name=%s", urlUserinfo("nobody"), s[1], g.MasterName)
	f.refused(f.fromURLOK(wrong, g.MasterName+"("+s[1]+")"))
	none := fmt.Sprintf("redis://%s/0?master_name=%s&addr=%s", s[2], g.MasterName, s[0])
	f.refused(f.fromURLOK(none, g.MasterName+"("+s[2]+","+s[0]+")"))
	unknown := fmt.Sprintf("redis://%s@%s?master_name=nosuchmaster", urlUserinfo(""), s[0])
	f.refused(f.fromURLOK(unknown, "nosuchmaster("+s[0]+")"))
}

// testClusterURL: a Node from a cluster URL, seeded with the cluster's
// masters, locks on every master, logged in with the URL's password.
func testClusterURL(f *Fixture) {
	c := Clusters(f.T, 1, 3)[0]
	for _, s := range c.Masters {
		f.requirePassword(s)
	}
	a := c.Addrs()
	raw := fmt.Sprintf("redis://%s@%s?addr=%s&addr=%s", urlUserinfo(""), a[0], a[1], a[2])
	n := f.fromURLOK(raw, strings.Join(a, ","))
	l, err := core.New([]core.Node{n})
	require.NoError(f.T, err)
	onMaster := map[int]bool{}
	for k := 0; len(onMaster) < len(c.Masters) && k < 1000; k++ {
		name := "cluster-url-" + strconv.Itoa(k)
		i, err := c.Owner(core.Key(name))
		require.NoError(f.T, err)
		if onMaster[i] {
			continue
		}
		onMaster[i] = true
		m := l.NewMutex(name)
		require.NoError(f.T, m.TryLock(f.Ctx), "a lock on master %d", i)
		v, err := c.Masters[i].Do("PTTL", core.Key(name))
		require.NoError(f.T, err)
		assert.Positive(f.T, v, "the lock %q on master %d", name, i)
		require.NoError(f.T, m.Unlock(f.Ctx))
		v, err = c.Masters[i].Do("PTTL", core.Key(name))
		require.NoError(f.T, err)
		assert.Equal(f.T, int64(-2), v, "the lock %q released on master %d", name, i)
	}
	assert.Len(f.T, onMaster, len(c.Masters), "locks on every master")
	waitCtx, cancel := context.WithTimeout(f.Ctx, 5*time.Second)
	defer cancel()
	require.NoError(f.T, l.Wait(waitCtx))

	two := fmt.Sprintf("redis://%s@%s/0?addr=%s", urlUserinfo(""), a[2], a[1])
	f.lockIn(f.fromURLOK(two, a[2]+","+a[1]), c.Masters[mustOwner(f, c, "cluster-url-two")], 0, "cluster-url-two")

	wrong := fmt.Sprintf("redis://%s@%s?addr=%s", urlUserinfo("nobody"), a[0], a[1])
	f.refused(f.fromURLOK(wrong, a[0]+","+a[1]))
}

// mustOwner returns the index of the master of c that serves the lock
// called name.
func mustOwner(f *Fixture, c *Cluster, name string) int {
	f.T.Helper()
	i, err := c.Owner(core.Key(name))
	require.NoError(f.T, err)
	return i
}

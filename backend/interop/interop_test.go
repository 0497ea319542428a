package interop

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/backend/goredis"
	"github.com/redlock-go/redlock/backend/redigo"
	"github.com/redlock-go/redlock/backend/rueidis"
	valkeynode "github.com/redlock-go/redlock/backend/valkey"
	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

// lockers returns one Locker per backend over the same servers.
func lockers(t *testing.T, servers []*conformance.Server) map[string]*core.Locker {
	t.Helper()
	build := map[string]func(string) (core.Node, error){
		"goredis": goredis.NewNodeFromURL,
		"redigo":  redigo.NewNodeFromURL,
		"rueidis": rueidis.NewNodeFromURL,
		"valkey":  valkeynode.NewNodeFromURL,
	}
	out := make(map[string]*core.Locker)
	for name, newNode := range build {
		var nodes []core.Node
		for _, s := range servers {
			n, err := newNode("redis://" + s.Addr + "/0")
			require.NoError(t, err)
			t.Cleanup(func() { n.(interface{ Close() error }).Close() })
			nodes = append(nodes, n)
		}
		l, err := core.New(nodes)
		require.NoError(t, err)
		out[name] = l
	}
	return out
}

func TestLockRespectedAcrossBackends(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ls := lockers(t, conformance.Servers(t, 3))
	for holder, hl := range ls {
		m := hl.NewMutex("shared")
		require.NoError(t, m.TryLock(ctx), holder)
		for other, ol := range ls {
			if other == holder {
				continue
			}
			o := ol.NewMutex("shared")
			assert.ErrorIs(t, o.TryLock(ctx), core.ErrNotAcquired, "%s took a lock %s holds", other, holder)
			assert.ErrorIs(t, o.Unlock(ctx), core.ErrNotHeld, "%s released a lock %s holds", other, holder)
		}
		require.NoError(t, m.Unlock(ctx), holder)
	}
}

// Contenders through every backend take turns on one name.
func TestExclusionAcrossBackends(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	servers := conformance.Servers(t, 3)
	ls := lockers(t, servers)
	var holders, overlaps, sections atomic.Int32
	var wg sync.WaitGroup
	for name, l := range ls {
		for c := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := l.NewMutex("turns")
				counter := conformance.Dial(servers[0].Addr) // a read-modify-write in the critical section
				defer counter.Close()
				for range 5 {
					if !assert.NoError(t, m.Lock(ctx), fmt.Sprintf("%s/%d", name, c)) {
						return
					}
					if holders.Add(1) != 1 {
						overlaps.Add(1)
					}
					sections.Add(1)
					v, err := counter.Do(ctx, "GET", "counter")
					if assert.NoError(t, err) {
						n, _ := strconv.Atoi(fmt.Sprint(v))
						_, err = counter.Do(ctx, "SET", "counter", strconv.Itoa(n+1))
						assert.NoError(t, err)
					}
					holders.Add(-1)
					assert.NoError(t, m.Unlock(ctx))
				}
			}()
		}
	}
	wg.Wait()
	assert.Zero(t, overlaps.Load(), "critical sections overlapped")
	want := len(ls) * 3 * 5
	assert.Equal(t, int32(want), sections.Load())
	v, err := servers[0].Do("GET", "counter")
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(want), v, "increments lost to overlapping holders")
}

package conformance

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/granularity"
	"github.com/redlock-go/redlock/retry"
)

// CaseTimeout bounds each case of Run and each fixture of NewFixture; a
// test still running then fails the whole test binary with a panic that
// names it.
var CaseTimeout = 30 * time.Second

// Fixture is what each case of the suite gets: fresh servers, a Node for
// each, and a context that ends with the case's time limit.
type Fixture struct {
	T       *testing.T
	Ctx     context.Context
	Servers []*Server
	Nodes   []core.Node

	h Harness
}

// NewFixture starts servers fresh redis-servers for t and builds a Node for
// each with h, as every case of Run gets them. The fixture's context ends
// with CaseTimeout or with the test, and a test still running 5s after
// CaseTimeout panics; everything is stopped at t's cleanup. Tests of core
// and of code on top of it use it for fixtures of their own.
func NewFixture(t *testing.T, h Harness, servers int) *Fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CaseTimeout)
	name := t.Name()
	limit := time.AfterFunc(CaseTimeout+5*time.Second, func() {
		panic(fmt.Sprintf("conformance: %s still running after %v", name, CaseTimeout))
	})
	t.Cleanup(func() {
		limit.Stop()
		cancel()
	})
	f := &Fixture{T: t, Ctx: ctx, Servers: Servers(t, servers), h: h}
	for _, s := range f.Servers {
		f.Nodes = append(f.Nodes, h.NewNode(t, s.Addr))
	}
	return f
}

// Locker returns a Locker over all the fixture's nodes.
func (f *Fixture) Locker(opts ...core.Option) *core.Locker {
	f.T.Helper()
	l, err := core.New(f.Nodes, opts...)
	require.NoError(f.T, err)
	return l
}

// PTTL returns the remaining TTL in milliseconds of the lock called name on
// server i: -2 when the key is missing.
func (f *Fixture) PTTL(i int, name string) int64 {
	f.T.Helper()
	v, err := f.Servers[i].Do("PTTL", core.Key(name))
	if !assert.NoError(f.T, err) {
		return -2
	}
	return v.(int64)
}

// Holders returns the indexes of the servers where the lock called name exists.
func (f *Fixture) Holders(name string) []int {
	f.T.Helper()
	var out []int
	for i, s := range f.Servers {
		if !s.Running() {
			continue
		}
		v, err := s.Do("EXISTS", core.Key(name))
		if !assert.NoError(f.T, err) {
			continue
		}
		if v.(int64) == 1 {
			out = append(out, i)
		}
	}
	return out
}

// WaitFree waits until the lock called name is gone from every running
// server. Operations return once a quorum has answered, so the other nodes'
// writes may land a moment later.
func (f *Fixture) WaitFree(name string) {
	f.T.Helper()
	assert.Eventually(f.T, func() bool { return len(f.Holders(name)) == 0 }, 5*time.Second, 2*time.Millisecond,
		"lock %q left behind on a node", name)
}

// WaitPTTLAbove waits until the lock called name has a PTTL above ms on
// every server.
func (f *Fixture) WaitPTTLAbove(name string, ms int64) {
	f.T.Helper()
	assert.Eventually(f.T, func() bool {
		for i := range f.Servers {
			if f.PTTL(i, name) <= ms {
				return false
			}
		}
		return true
	}, 5*time.Second, 2*time.Millisecond, "PTTL of %q above %dms on every node", name, ms)
}

// OnAll runs an admin command on every running server.
func (f *Fixture) OnAll(args ...string) {
	f.T.Helper()
	for _, s := range f.Servers {
		if s.Running() {
			_, err := s.Do(args...)
			require.NoError(f.T, err)
		}
	}
}

// WaitSubscribed waits until every running server has a pattern
// subscription: a Lock that waits has its subscriptions up.
func (f *Fixture) WaitSubscribed() {
	f.T.Helper()
	require.Eventually(f.T, func() bool {
		for _, s := range f.Servers {
			if !s.Running() {
				continue
			}
			v, err := s.Do("PUBSUB", "NUMPAT")
			if err != nil || v.(int64) == 0 {
				return false
			}
		}
		return true
	}, 10*time.Second, 5*time.Millisecond, "the waiter never subscribed")
}

// Listening has a Lock of l wait on another lock until the test ends, so
// that the subscriptions are up before the test's own Lock starts: that
// Lock then makes its rounds and goes to sleep (see AsleepPolicy), with no
// wake from a subscription coming up.
func (f *Fixture) Listening(l *core.Locker) {
	f.T.Helper()
	holder := l.NewMutex("listening")
	require.NoError(f.T, holder.TryLock(f.Ctx))
	ctx, cancel := context.WithCancel(f.Ctx)
	queued := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.NewMutex("listening", QueuedPolicy(queued)).Lock(ctx)
	}()
	<-queued
	f.WaitSubscribed()
	f.T.Cleanup(func() {
		cancel()
		<-done
	})
}

// Publishes returns how many releases server i announced since its
// statistics were reset (CONFIG RESETSTAT).
func (f *Fixture) Publishes(i int) int { return f.calls(i, "publish") }

// ScriptCalls returns how many scripts server i ran since its statistics
// were reset (CONFIG RESETSTAT).
func (f *Fixture) ScriptCalls(i int) int { return f.calls(i, "evalsha", "eval") }

// calls returns how many times server i ran the given commands (lower
// case, as INFO commandstats names them) since its statistics were reset,
// scripts' calls included.
func (f *Fixture) calls(i int, commands ...string) int {
	f.T.Helper()
	v, err := f.Servers[i].Do("INFO", "commandstats")
	require.NoError(f.T, err)
	n := 0
	for _, cmd := range commands {
		if stat := infoField(fmt.Sprint(v), "cmdstat_"+cmd); stat != "" {
			c, err := strconv.Atoi(strings.TrimPrefix(strings.Split(stat, ",")[0], "calls="))
			require.NoError(f.T, err)
			n += c
		}
	}
	return n
}

// FixedOwner is an Owner with the given ID, for tests that need two
// Lockers to be one owner or to tell owners apart in the keys.
func FixedOwner(id string) core.Option {
	return core.WithOwner(granularity.OwnerFunc(func(context.Context, string) (string, error) { return id, nil }))
}

// SignalPolicy is a retry policy for tests that need to know where a
// waiting Lock is: every delay it gives is delay, and it sends on ch when
// asked for delay number at. A Lock asks for its first delay right after
// it has joined the queue of waiters (see QueuedPolicy).
func SignalPolicy(ch chan<- struct{}, at int, delay time.Duration) core.Option {
	return core.WithRetry(retry.Policy(func() backoff.BackOff {
		return &signalBackOff{ch: ch, at: at, delay: delay}
	}))
}

// QueuedPolicy is a retry policy that never polls (20s delays) and sends
// on queued when the Lock using it has joined the queue of waiters.
func QueuedPolicy(queued chan<- struct{}) core.Option { return SignalPolicy(queued, 1, 20*time.Second) }

// AsleepPolicy is QueuedPolicy for a Lock that starts while the
// subscriptions are up (see Listening): it makes one more round on joining
// the queue, which takes the first delay, and sends on asleep when it goes
// to sleep, on the second.
func AsleepPolicy(asleep chan<- struct{}) core.Option { return SignalPolicy(asleep, 2, 20*time.Second) }

// checkWokenByRelease has waiter, a Mutex with AsleepPolicy(asleep), Lock
// the lock that holder holds; once the waiter sleeps out its 20s delay,
// holder unlocks, and the waiter must acquire within 2s: woken by the
// release. It then unlocks.
func checkWokenByRelease(t testing.TB, ctx context.Context, holder, waiter *core.Mutex, asleep <-chan struct{}) {
	t.Helper()
	acquired := make(chan time.Time, 1)
	go func() {
		if assert.NoError(t, waiter.Lock(ctx)) {
			acquired <- time.Now()
		}
		close(acquired)
	}()
	select {
	case <-asleep:
	case <-ctx.Done():
		t.Fatal("the waiter never went to sleep")
	}
	released := time.Now()
	require.NoError(t, holder.Unlock(ctx))
	at, ok := <-acquired
	require.True(t, ok, "the waiter did not acquire")
	assert.Less(t, at.Sub(released), 2*time.Second, "the waiter woke on the release")
	require.NoError(t, waiter.Unlock(ctx))
}

type signalBackOff struct {
	ch    chan<- struct{}
	at    int
	asked int
	delay time.Duration
}

func (b *signalBackOff) NextBackOff() time.Duration {
	if b.asked++; b.asked == b.at {
		b.ch <- struct{}{}
	}
	return b.delay
}

func (b *signalBackOff) Reset() {}

// Job works for d or until ctx ends, like the fn of a Do that works for d:
// it returns nil after d, or ctx's cause when ctx ends first.
func Job(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Validities records the validity that each acquisition, refresh or
// extension of a Locker proved, from its events: pass Record to
// core.WithEvents. A holding's Until is the latest validity it proved, and
// a refresh or extension whose round took longer than the one before may
// prove an earlier one than the holding has: compare Until with what the
// round proved (AssertRenewed), not with the Until before it.
type Validities struct {
	mu   sync.Mutex
	last core.Event
}

// Record notes an Acquired or Extended event.
func (v *Validities) Record(e core.Event) {
	if e.Kind == core.Acquired || e.Kind == core.Extended {
		v.mu.Lock()
		v.last = e
		v.mu.Unlock()
	}
}

// Last returns the last Acquired or Extended event recorded.
func (v *Validities) Last() core.Event {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.last
}

// AssertRenewed asserts that until, a holding's Until read after a refresh
// or extension of it returned nil, is the later of before (its Until
// before the operation) and the validity the operation's round proved,
// which lasts beyond now.
func (v *Validities) AssertRenewed(t testing.TB, until, before time.Time, op string) {
	t.Helper()
	proved := v.Last().Until
	assert.True(t, proved.After(time.Now()), "%s proved no validity beyond now", op)
	want := before
	if proved.After(want) {
		want = proved
	}
	assert.True(t, until.Equal(want), "%s: Until is %v, not the later of %v before and %v proved", op, until, before, proved)
}

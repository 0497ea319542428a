package core_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/granularity"
	"github.com/redlock-go/redlock/internal/testnode"
)

// lostReplies are the ways a node's reply can fail to reach a round after
// the script ran: an error (the Node contract's "ran the script, then
// failed") or an answer after the node timeout.
var lostReplies = []struct {
	name string
	act  testnode.Action
}{
	{"error", testnode.RunThenFail(nil)},
	{"late", testnode.RunThenLate()},
}

// A refresh whose script runs on two of three nodes but whose replies are
// lost fails with one grant; its cleanup must not delete the lock the
// Mutex still holds there: another owner must stay refused until the old
// validity ends.
func TestFailedRefreshKeepsLock(t *testing.T) {
	for _, lost := range lostReplies {
		t.Run(lost.name, func(t *testing.T) {
			f := newFixture(t, 3)
			l := f.Locker(core.WithNodeTimeout(200 * time.Millisecond))
			m := l.NewMutex("refresh")
			require.NoError(t, m.TryLock(f.Ctx))
			until := m.Until()
			f.settle(l) // the third node's acquire too, or the fault below could meet it

			f.arm("acquire", lost.act, 0, 1)
			require.ErrorIs(t, m.TryLock(f.Ctx), core.ErrNotAcquired, "the refresh had one grant of three")
			assert.Equal(t, until, m.Until(), "the lock stays held until its old Until")
			f.settle(l)
			assert.Equal(t, []int{0, 1, 2}, f.Holders("refresh"), "the failed refresh's cleanup deleted the held lock")
			assert.ErrorIs(t, l.NewMutex("refresh").TryLock(f.Ctx), core.ErrNotAcquired, "another owner acquired a held lock")
			require.NoError(t, m.Unlock(f.Ctx))
		})
	}
}

// The same with owners that several handles share: handle b's failed
// refresh must not delete the lock that handle a holds.
func TestFailedRefreshKeepsSharedOwnersLock(t *testing.T) {
	owners := []struct {
		name  string
		owner granularity.Owner
		ctx   func(context.Context) context.Context
	}{
		{"process", granularity.Process(), func(ctx context.Context) context.Context { return ctx }},
		{"host", granularity.Host(), func(ctx context.Context) context.Context { return ctx }},
		{"task", granularity.Task(), func(ctx context.Context) context.Context { return granularity.WithTask(ctx, "job-1") }},
	}
	for _, o := range owners {
		t.Run(o.name, func(t *testing.T) {
			f := newFixture(t, 3)
			ctx := o.ctx(f.Ctx)
			l := f.Locker(core.WithNodeTimeout(200*time.Millisecond), core.WithOwner(o.owner))
			a, b := l.NewMutex("shared"), l.NewMutex("shared")
			require.NoError(t, a.TryLock(ctx))
			f.settle(l)

			f.arm("acquire", testnode.RunThenFail(nil), 0, 1)
			require.ErrorIs(t, b.TryLock(ctx), core.ErrNotAcquired)
			f.settle(l)
			assert.Equal(t, []int{0, 1, 2}, f.Holders("shared"), "b's failed refresh deleted a's lock")
			other := f.Locker(conformance.FixedOwner("someone-else")).NewMutex("shared")
			assert.ErrorIs(t, other.TryLock(f.Ctx), core.ErrNotAcquired, "another owner acquired a held lock")
			require.NoError(t, a.Unlock(ctx))
		})
	}
}

// Two TryLocks of one Mutex at once: the first wins while the second,
// which ran after it on every node, fails with its replies lost. The
// second's cleanup must not delete what the first won.
func TestConcurrentTryLocksKeepWinner(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithNodeTimeout(2 * time.Second))
	m := l.NewMutex("twice")

	// The first round's scripts run at once, their replies are held back.
	ran := make([]chan struct{}, 3)
	release := make(chan struct{})
	for i := range 3 {
		ran[i] = make(chan struct{})
		f.faulty[i].On("acquire", 1, func(ctx context.Context, c testnode.Call, run func(context.Context) (any, error)) (any, error) {
			v, err := run(ctx)
			close(ran[i])
			select {
			case <-release:
				return v, err
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
	}
	first := make(chan error, 1)
	go func() { first <- m.TryLock(f.Ctx) }()
	for i := range 3 {
		<-ran[i]
	}
	// The second round runs after the first everywhere; two replies are lost.
	f.arm("acquire", testnode.RunThenFail(nil), 0, 1)
	require.ErrorIs(t, m.TryLock(f.Ctx), core.ErrNotAcquired)
	close(release)
	require.NoError(t, <-first)
	f.settle(l)

	assert.Equal(t, []int{0, 1, 2}, f.Holders("twice"), "the failed round's cleanup deleted the winner's lock")
	assert.ErrorIs(t, l.NewMutex("twice").TryLock(f.Ctx), core.ErrNotAcquired, "another owner acquired a held lock")
	require.NoError(t, m.Unlock(f.Ctx))
}

// A handle of a shared owner whose fence commit fails undoes its
// acquisition; the undo must not delete the lock that another handle of
// the owner holds.
func TestFailedFenceCommitKeepsSharedLock(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithNodeTimeout(200*time.Millisecond), core.WithOwner(granularity.Process()), core.WithFencing())
	a, b := l.NewMutex("fenced"), l.NewMutex("fenced")
	require.NoError(t, a.TryLock(f.Ctx))
	require.NotZero(t, a.Fence())
	f.settle(l)

	f.arm("fence", testnode.Lose(nil), 0, 1)
	require.ErrorIs(t, b.TryLock(f.Ctx), core.ErrNotAcquired, "the token was committed on one node")
	f.settle(l)
	assert.Equal(t, []int{0, 1, 2}, f.Holders("fenced"), "b's undone acquisition deleted a's lock")
	other := f.Locker(conformance.FixedOwner("someone-else"), core.WithFencing()).NewMutex("fenced")
	assert.ErrorIs(t, other.TryLock(f.Ctx), core.ErrNotAcquired, "another owner acquired a held lock")
	require.NoError(t, a.Unlock(f.Ctx))
}

// Fencing tokens must not repeat when one node restarts empty. H1 takes a
// token; B restarts empty; A is slow (within the node timeout), so the
// first quorum of H2's round is B and C. H2's token must still exceed
// H1's. The first variant has C down while H1 acquires, so that H1's token
// can only reach A and B: H1 must then not get a token at all, since one
// empty restart could erase it.
func TestFenceSurvivesEmptyRestart(t *testing.T) {
	for _, cDown := range []bool{true, false} {
		t.Run(fmt.Sprintf("c-down-at-first=%v", cDown), func(t *testing.T) {
			f := newFixture(t, 3)
			l := f.Locker(core.WithNodeTimeout(time.Second), core.WithFencing())
			if cDown {
				f.Servers[2].Kill()
			}
			h1 := l.NewMutex("fenced")
			err := h1.TryLock(f.Ctx)
			var t1 uint64
			if err == nil {
				t1 = h1.Fence()
				require.NotZero(t, t1)
				require.NoError(t, h1.Unlock(f.Ctx))
			} else {
				require.True(t, cDown, "all nodes up: %v", err)
				require.ErrorIs(t, err, core.ErrNotAcquired)
			}
			f.settle(l)
			if cDown {
				require.NoError(t, f.Servers[2].Restart())
			}
			require.NoError(t, f.Servers[1].Restart()) // B comes back empty
			for _, n := range f.faulty {
				n.CloseIdle() // no call may fail on a connection the restarts cut
			}

			// A answers within the node timeout, but only after B and C.
			slow, ranB, ranC := make(chan struct{}), make(chan struct{}), make(chan struct{})
			f.arm("acquire", testnode.RunThenHold(slow), 0)
			f.arm("acquire", testnode.Signal(ranB), 1)
			f.arm("acquire", testnode.Signal(ranC), 2)
			go func() {
				<-ranB
				<-ranC
				close(slow)
			}()
			h2 := l.NewMutex("fenced")
			require.NoError(t, h2.Lock(f.Ctx))
			assert.Greater(t, h2.Fence(), t1, "a fencing token was issued twice")
			require.NoError(t, h2.Unlock(f.Ctx))
		})
	}
}

// A holder that lost its lock and locks again must get a new token, above
// the tokens issued in between, however the loss came about.
func TestTokenAfterLoss(t *testing.T) {
	for _, how := range []string{"keys deleted", "shared owner unlocked"} {
		t.Run(how, func(t *testing.T) {
			f := newFixture(t, 3)
			opts := []core.Option{core.WithFencing()}
			if how == "shared owner unlocked" {
				opts = append(opts, core.WithOwner(granularity.Process()))
			}
			l := f.Locker(opts...)
			a := l.NewMutex("fenced")
			require.NoError(t, a.TryLock(f.Ctx))
			t1 := a.Fence()
			switch how {
			case "keys deleted":
				f.OnAll("DEL", core.Key("fenced"))
			case "shared owner unlocked":
				require.NoError(t, l.NewMutex("fenced").Unlock(f.Ctx))
			}
			f.settle(l)
			xl := f.Locker(core.WithFencing())
			x := xl.NewMutex("fenced")
			require.NoError(t, x.TryLock(f.Ctx))
			t2 := x.Fence()
			require.Greater(t, t2, t1)
			require.NoError(t, x.Unlock(f.Ctx))
			f.settle(xl) // the third node's release too: a fenced acquisition of three nodes needs all three

			require.NoError(t, a.TryLock(f.Ctx))
			assert.Greater(t, a.Fence(), t2, "the old token was reused after a loss")
			require.NoError(t, a.Unlock(f.Ctx))
		})
	}
}

// With durable counters (tokens committed on a bare quorum), a commit call
// that comes late can land on a key the holder wrote again after it had
// expired, and mark it with the old token. A refresh must not take that
// for proof that the key stayed the holder's: here M's token 1 reaches A
// and B while its commit to C is held; M's keys on B and C go (as if
// expired), X takes token 2 on B and C and unlocks; a failed refresh of M
// writes B and C again, the held commit lands on C, and the next refresh
// finds token 1 on A and C. It must take a token above 2, not reuse 1.
func TestLateCommitDoesNotProveContinuity(t *testing.T) {
	f := newFixture(t, 3)
	opts := []core.Option{core.WithFencing(), core.WithDurableCounters(), core.WithNodeTimeout(time.Second)}
	m := f.Locker(opts...).NewMutex("fenced")
	commit := make(chan struct{})
	f.arm("fence", testnode.HoldThenRun(commit), 2)
	require.NoError(t, m.TryLock(f.Ctx))
	t1 := m.Fence()
	require.Equal(t, []int{0, 1, 2}, f.Holders("fenced"))

	for _, i := range []int{1, 2} {
		_, err := f.Servers[i].Do("DEL", core.Key("fenced"))
		require.NoError(t, err)
	}
	xl := f.Locker(opts...)
	x := xl.NewMutex("fenced")
	require.NoError(t, x.TryLock(f.Ctx))
	t2 := x.Fence()
	require.Greater(t, t2, t1)
	require.NoError(t, x.Unlock(f.Ctx))
	f.settle(xl)

	f.arm("acquire", testnode.RunThenFail(nil), 1, 2)
	require.ErrorIs(t, m.TryLock(f.Ctx), core.ErrNotAcquired, "a refresh with one reply")
	require.Equal(t, []int{0, 1, 2}, f.Holders("fenced"), "the failed refresh wrote B and C again")
	close(commit)
	marked := fmt.Sprintf("%016x", t1)
	require.Eventually(t, func() bool {
		v, err := f.Servers[2].Do("GET", core.Key("fenced"))
		s, _ := v.(string)
		return err == nil && strings.Contains(s, marked)
	}, 5*time.Second, time.Millisecond, "the held commit landed on C's new key")

	require.NoError(t, m.TryLock(f.Ctx))
	assert.Greater(t, m.Fence(), t2, "a refresh reused a token issued before another holder's")
	require.NoError(t, m.Unlock(f.Ctx))
}

// An extension counts only keys that carry the holding's claim. Here a
// failed TryLock leaves its key on A (its reply came late), with its undo
// held back; the next TryLock holds B and C; Extend reaches A and C. A's
// key is claimed only by the failed round, and its undo then deletes it:
// had A counted, the new validity would rest on one key.
func TestExtensionIgnoresFailedRoundsKey(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithNodeTimeout(300 * time.Millisecond))
	m := l.NewMutex("extend")
	undo := make(chan struct{})
	defer close(undo)
	f.faulty[0].On("undo", 3, testnode.HoldThenRun(undo)) // the undo and both its repeats
	f.arm("acquire", testnode.RunThenLate(), 0)
	f.arm("acquire", testnode.Lose(nil), 1, 2)
	require.ErrorIs(t, m.TryLock(f.Ctx), core.ErrNotAcquired)
	// The round can fail on B and C before A's script has run: wait for it.
	require.Eventually(t, func() bool { return slices.Equal(f.Holders("extend"), []int{0}) }, 5*time.Second, time.Millisecond,
		"the failed round's key, its undo held")

	f.arm("acquire", testnode.Lose(nil), 0)
	require.NoError(t, m.TryLock(f.Ctx))
	require.Equal(t, []int{0, 1, 2}, f.Holders("extend"))

	f.arm("extend", testnode.Lose(nil), 1)
	require.ErrorIs(t, m.Extend(f.Ctx), core.ErrNotExtended, "the extension counted A, whose key only the failed round claims")
}

// An acquire that reaches a node only after its failed round's undo ran
// there (held on the way, or queued on a stalled server while the undo
// came in on another connection) must still be taken back, long before
// its TTL: the undo is asked again while the acquire may still land.
func TestUndoOvertakenByItsAcquire(t *testing.T) {
	f := newFixture(t, 3)
	l := f.Locker(core.WithNodeTimeout(100 * time.Millisecond))
	release, undone, landed := make(chan struct{}), make(chan struct{}), make(chan struct{})
	held := testnode.HoldThenRun(release)
	f.arm("acquire", func(ctx context.Context, c testnode.Call, run func(context.Context) (any, error)) (any, error) {
		return held(ctx, c, func(ctx context.Context) (any, error) {
			defer close(landed)
			return run(ctx)
		})
	}, 0)
	f.arm("acquire", testnode.Lose(nil), 1, 2)
	f.arm("undo", testnode.Signal(undone), 0)
	require.ErrorIs(t, l.NewMutex("overtaken").TryLock(f.Ctx), core.ErrNotAcquired)
	select {
	case <-undone:
	case <-f.Ctx.Done():
		t.Fatal("the failed round sent no undo to the node whose acquire failed")
	}
	close(release) // the acquire lands now, after its undo
	<-landed
	f.settle(l)
	assert.Empty(t, f.Holders("overtaken"), "the late acquire's key stays until its TTL (10s)")
	require.NoError(t, l.NewMutex("overtaken").TryLock(f.Ctx), "another owner is kept out by a failed round's key")
}

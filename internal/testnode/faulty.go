package testnode

import (
	"context"
	"errors"
	"sync"

	"github.com/redlock-go/redlock/core"
)

// Faulty wraps a Node so that chosen calls misbehave in a chosen way: a
// test arms it with On, and the next calls of a script get the Action
// instead of a plain call. Unarmed calls, and Listen, go straight through.
type Faulty struct {
	inner core.Node
	sub   core.Subscriber // nil when inner is not a Subscriber

	mu    sync.Mutex
	rules []*rule
	calls map[string]int // calls seen, by script name
}

type rule struct {
	script string
	left   int // calls still to affect; < 0: every call
	act    Action
}

// Call is one script call as an Action sees it.
type Call struct {
	Script     *core.Script
	Keys, Args []string
}

// An Action decides what becomes of one call. run sends the call to the
// server (it may be called at most once, with any context) and returns
// its reply; what the Action returns is what core receives.
type Action func(ctx context.Context, c Call, run func(context.Context) (any, error)) (any, error)

// Wrap returns a Faulty around n.
func Wrap(n core.Node) *Faulty {
	f := &Faulty{inner: n, calls: map[string]int{}}
	f.sub, _ = n.(core.Subscriber)
	return f
}

// Addr returns the wrapped Node's Addr.
func (f *Faulty) Addr() string { return f.inner.Addr() }

// On arms the next times calls of the script called script (as
// core.Script.Name gives it: "acquire", "release", ...) with act; times < 0
// arms every call until Reset. Rules apply first armed, first used.
func (f *Faulty) On(script string, times int, act Action) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, &rule{script: script, left: times, act: act})
}

// Reset disarms every rule.
func (f *Faulty) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
}

// Calls returns how many calls of the script called script went through
// f, armed or not.
func (f *Faulty) Calls(script string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[script]
}

// Eval runs the call, or the Action armed for it.
func (f *Faulty) Eval(ctx context.Context, script *core.Script, keys, args []string) (any, error) {
	f.mu.Lock()
	f.calls[script.Name()]++
	var act Action
	for i, r := range f.rules {
		if r.script == script.Name() && r.left != 0 {
			act = r.act
			if r.left > 0 {
				r.left--
			}
			if r.left == 0 {
				f.rules = append(f.rules[:i:i], f.rules[i+1:]...)
			}
			break
		}
	}
	f.mu.Unlock()
	run := func(ctx context.Context) (any, error) { return f.inner.Eval(ctx, script, keys, args) }
	if act == nil {
		return run(ctx)
	}
	return act(ctx, Call{Script: script, Keys: keys, Args: args}, run)
}

// CloseIdle closes the wrapped Node's idle connections, when it has a
// CloseIdle method.
func (f *Faulty) CloseIdle() {
	if c, ok := f.inner.(interface{ CloseIdle() }); ok {
		c.CloseIdle()
	}
}

// Listen forwards to the wrapped Node's Listen, or fails when it has none.
func (f *Faulty) Listen(ctx context.Context, pattern string, ready func(), deliver func(channel string)) error {
	if f.sub == nil {
		return errors.New("testnode: the wrapped Node is not a Subscriber")
	}
	return f.sub.Listen(ctx, pattern, ready, deliver)
}

// ErrDropped is the error of a reply that an Action dropped.
var ErrDropped = errors.New("testnode: reply dropped")

// RunThenFail runs the call on the server and then drops its reply and
// returns err (ErrDropped when nil): the Node contract's "ran the script,
// then failed".
func RunThenFail(err error) Action {
	if err == nil {
		err = ErrDropped
	}
	return func(ctx context.Context, _ Call, run func(context.Context) (any, error)) (any, error) {
		_, _ = run(context.WithoutCancel(ctx))
		return nil, err
	}
}

// RunThenLate runs the call and then keeps its reply until ctx ends, and
// returns ctx's error: a reply that comes back after the node timeout.
func RunThenLate() Action {
	return func(ctx context.Context, _ Call, run func(context.Context) (any, error)) (any, error) {
		_, _ = run(context.WithoutCancel(ctx))
		<-ctx.Done()
		return nil, ctx.Err()
	}
}

// RunThenHold runs the call and then holds its reply until release is
// closed: a reply that is slow but within the node timeout. If ctx ends
// first, it returns ctx's error.
func RunThenHold(release <-chan struct{}) Action {
	return func(ctx context.Context, _ Call, run func(context.Context) (any, error)) (any, error) {
		v, err := run(context.WithoutCancel(ctx))
		select {
		case <-release:
			return v, err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// HoldThenRun holds the call until release is closed and then runs it: a
// request that reaches the server late. Unless ctx ended meanwhile, its
// reply comes back; if ctx ended, the call still runs once released, as a
// request already on the wire does, and returns ctx's error at once.
func HoldThenRun(release <-chan struct{}) Action {
	return func(ctx context.Context, _ Call, run func(context.Context) (any, error)) (any, error) {
		select {
		case <-release:
			return run(ctx)
		case <-ctx.Done():
			go func() {
				<-release
				_, _ = run(context.WithoutCancel(ctx))
			}()
			return nil, ctx.Err()
		}
	}
}

// Lose does not run the call and returns err (ErrDropped when nil): a
// request lost on the way.
func Lose(err error) Action {
	if err == nil {
		err = ErrDropped
	}
	return func(context.Context, Call, func(context.Context) (any, error)) (any, error) { return nil, err }
}

// Signal runs the call as usual, and closes ran once it has run (the first
// time only).
func Signal(ran chan<- struct{}) Action {
	var once sync.Once
	return func(ctx context.Context, _ Call, run func(context.Context) (any, error)) (any, error) {
		v, err := run(ctx)
		once.Do(func() { close(ran) })
		return v, err
	}
}

package conformance

import (
	"context"
	"fmt"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
)

// The cases of the Node contract, method by method: what Eval brings back
// for each of core's scripts, and what a Batcher's EvalBatch brings back
// for the same calls.
var nodeCases = []testCase{
	{"EvalReplies", 1, testEvalReplies, false},
	{"BatchMatchesEval", 1, testBatchMatchesEval, false},
}

// script returns the core script called name.
func script(name string) *core.Script {
	for _, s := range core.Scripts() {
		if s.Name() == name {
			return s
		}
	}
	panic("conformance: no core script " + name)
}

// scriptCall is one call of a core script with the reply that core.Node's
// doc says Eval gives for it: want, an int64 status or, for an acquisition
// with fencing, []any{status, counter, token}; or, when wantErr is set, an
// error whose message contains wantErr.
type scriptCall struct {
	script     string
	keys, args []string
	want       any
	wantErr    string
}

// The arguments of the calls, as core's scripts read them (each script's
// header in core/*.lua): owner prefixes, round nonces (claims), the range
// of nonces a release or hand-over covers, TTLs and fencing tokens.
const (
	ownerP, ownerQ, ownerR = "p|", "q|", "r|"
	claim1, claim2         = "0000000000000001", "0000000000000002"
	unclaimed              = "00000000000000ff" // a claim no call writes
	lowest, highest        = "0000000000000000", "ffffffffffffffff"
	longTTL, shortTTL      = "60000", "10000"
	noToken                = "0000000000000000"
)

// replyScene is what replyCalls expects to find on the locks of prefix:
// locks held by ownerP (one with a committed fencing token 5, one with a
// short TTL) and one held by ownerQ.
func replyScene(prefix string) []scriptCall {
	lock, fenced := lockKeys(prefix)
	acquire := func(owner, ttl string) []string { return []string{owner, claim1, ttl, "1"} }
	return []scriptCall{
		{"acquire", lock("held"), acquire(ownerP, longTTL), int64(1), ""},
		{"acquire", lock("other"), acquire(ownerQ, longTTL), int64(1), ""},
		{"acquire", lock("undo"), acquire(ownerP, longTTL), int64(1), ""},
		{"acquire", lock("release"), acquire(ownerP, longTTL), int64(1), ""},
		{"acquire", lock("extend"), acquire(ownerP, shortTTL), int64(1), ""},
		{"acquire", lock("commit"), acquire(ownerP, longTTL), int64(1), ""},
		{"acquire", lock("handover"), acquire(ownerP, longTTL), int64(1), ""},
		{"acquire", fenced("fenced"), acquire(ownerP, longTTL), []any{int64(1), int64(0), noToken}, ""},
		{"fence", fenced("fenced"), []string{ownerP, "5", "0000000000000005", claim1, "86400000"}, int64(1), ""},
	}
}

// replyCalls is a call of every script for each of its replies, on the
// locks of prefix set up by replyScene, and one that meets a key of
// another type. Each call that changes a key has a key of its own, so
// that the calls give the same replies in any order.
func replyCalls(prefix string) []scriptCall {
	lock, fenced := lockKeys(prefix)
	acquireP := []string{ownerP, claim2, longTTL, "1"}
	contended := []string{ownerP, claim2, longTTL, "1", "1"} // reads before it writes
	return []scriptCall{
		{"acquire", lock("free"), acquireP, int64(1), ""},
		{"acquire", lock("free-contended"), contended, int64(1), ""},
		{"acquire", lock("other"), contended, int64(0), ""},
		{"acquire", fenced("free-fenced-contended"), contended, []any{int64(1), int64(0), noToken}, ""},
		{"acquire", lock("held"), acquireP, int64(2), ""},
		{"acquire", lock("other"), acquireP, int64(0), ""},
		{"acquire", fenced("free-fenced"), acquireP, []any{int64(1), int64(0), noToken}, ""},
		{"acquire", fenced("fenced"), acquireP, []any{int64(2), int64(5), "0000000000000005"}, ""},
		{"acquire", fenced("other"), acquireP, []any{int64(0), int64(0), ""}, ""},
		{"undo", lock("undo"), []string{ownerP, claim1}, int64(1), ""},
		{"undo", lock("other"), []string{ownerP, claim1}, int64(0), ""},
		{"release", lock("release"), []string{ownerP, lowest, highest}, int64(1), ""},
		{"release", lock("other"), []string{ownerP, lowest, highest}, int64(0), ""},
		{"extend", lock("extend"), []string{ownerP, longTTL, ""}, int64(1), ""},
		{"extend", lock("extend"), []string{ownerP, longTTL, claim1}, int64(1), ""},
		{"extend", lock("extend"), []string{ownerP, longTTL, unclaimed}, int64(0), ""},
		{"extend", lock("missing"), []string{ownerP, longTTL, claim1}, int64(0), ""},
		{"fence", fenced("commit"), []string{ownerP, "7", "0000000000000007", claim1, "86400000"}, int64(1), ""},
		{"fence", fenced("fenced"), []string{ownerP, "7", "0000000000000007", unclaimed, "86400000"}, int64(0), ""},
		{"fence", fenced("other"), []string{ownerP, "7", "0000000000000007", claim1, "86400000"}, int64(0), ""},
		{"handover", lock("handover"), []string{ownerR, claim2, longTTL, ownerP, lowest, highest}, int64(1), ""},
		{"handover", lock("other"), []string{ownerR, claim2, longTTL, ownerP, lowest, highest}, int64(0), ""},
		{"acquire", lock("wrong"), acquireP, nil, "WRONGTYPE"},
	}
}

// lockKeys returns functions that give the keys of the lock called
// prefix+name: the lock key alone, and the lock key and its fencing counter.
func lockKeys(prefix string) (lock, fenced func(name string) []string) {
	lock = func(name string) []string { return []string{core.Key(prefix + name)} }
	fenced = func(name string) []string { return []string{core.Key(prefix + name), core.FenceKey(prefix + name)} }
	return lock, fenced
}

// setScene makes on server 0 what replyCalls(prefix) expects, through the
// Node's Eval, and checks the replies on the way: the test stops when one
// is wrong, since the calls that follow would meet another scene.
func (f *Fixture) setScene(prefix string) {
	f.T.Helper()
	_, err := f.Servers[0].Do("RPUSH", core.Key(prefix+"wrong"), "x")
	require.NoError(f.T, err)
	if !f.evalAndCheck(replyScene(prefix)) {
		f.T.FailNow()
	}
}

// asCalls returns calls as core.Calls with no replies yet.
func asCalls(calls []scriptCall) []core.Call {
	out := make([]core.Call, len(calls))
	for i, c := range calls {
		out[i] = core.Call{Script: script(c.script), Keys: c.keys, Args: c.args}
	}
	return out
}

// evalEach runs calls one by one through the Eval of node 0 and fills in
// their replies, as EvalBatch would.
func (f *Fixture) evalEach(calls []core.Call) {
	for i := range calls {
		c := &calls[i]
		c.Reply, c.Err = f.Nodes[0].Eval(f.Ctx, c.Script, c.Keys, c.Args)
	}
}

// evalAndCheck runs calls through evalEach and checks their replies; it
// reports whether they were all right.
func (f *Fixture) evalAndCheck(calls []scriptCall) bool {
	f.T.Helper()
	got := asCalls(calls)
	f.evalEach(got)
	return f.checkReplies(calls, got)
}

// checkReplies checks that each call got the reply it wants, and reports
// whether they all did.
func (f *Fixture) checkReplies(calls []scriptCall, got []core.Call) bool {
	f.T.Helper()
	ok := true
	for i, c := range calls {
		what := fmt.Sprintf("call %d: %s %v %v", i, c.script, c.keys, c.args)
		if c.wantErr != "" {
			ok = assert.ErrorContains(f.T, got[i].Err, c.wantErr, what) && ok
			ok = assert.Nil(f.T, got[i].Reply, "%s: an error reply came back as a value too", what) && ok
			continue
		}
		ok = assert.NoError(f.T, got[i].Err, what) && assert.Equal(f.T, c.want, got[i].Reply, what) && ok
	}
	return ok
}

// testEvalReplies: every script through Eval, with each of its replies
// normalised; first on a fresh server, then after SCRIPT FLUSH, so that
// each script's first call meets NOSCRIPT both times and the later ones
// run from the script cache. An error reply is an error, not a value, and
// a context that has ended makes Eval fail.
func testEvalReplies(f *Fixture) {
	for _, prefix := range []string{"fresh/", "flushed/"} {
		if prefix == "flushed/" {
			f.OnAll("SCRIPT", "FLUSH")
		}
		f.setScene(prefix)
		f.evalAndCheck(replyCalls(prefix))
	}

	ctx, cancel := context.WithCancel(f.Ctx)
	cancel()
	_, err := f.Nodes[0].Eval(ctx, script("acquire"), []string{core.Key("cancelled")}, []string{ownerP, claim1, longTTL, "1"})
	assert.Error(f.T, err, "Eval with a context already cancelled")
}

// testBatchMatchesEval: the calls of replyCalls, once through Eval one by
// one and once through one EvalBatch, each on locks of its own, give the
// same reply and the same error or none, call for call, and leave the
// same keys behind. Both runs start after SCRIPT FLUSH with the scripts
// of replyScene loaded again, so that the batch mixes calls that meet
// NOSCRIPT with calls that do not.
func testBatchMatchesEval(f *Fixture) {
	b, ok := f.Nodes[0].(core.Batcher)
	if !ok {
		f.T.Skip("the Node does not implement core.Batcher; core sends batched calls one at a time")
	}
	run := func(prefix string, send func([]core.Call)) []core.Call {
		f.OnAll("SCRIPT", "FLUSH")
		f.setScene(prefix)
		calls := asCalls(replyCalls(prefix))
		send(calls)
		return calls
	}
	each := run("each/", f.evalEach)
	batched := run("batched/", func(calls []core.Call) { b.EvalBatch(f.Ctx, calls) })
	f.checkReplies(replyCalls("each/"), each)
	for i := range each {
		what := fmt.Sprintf("call %d: %s %v", i, each[i].Script.Name(), batched[i].Keys)
		assert.Equal(f.T, each[i].Reply, batched[i].Reply, what)
		assert.Equal(f.T, each[i].Err != nil, batched[i].Err != nil, "%s: error through Eval %v, through EvalBatch %v", what, each[i].Err, batched[i].Err)
		for k := range each[i].Keys {
			assert.Equal(f.T, f.dump(each[i].Keys[k]), f.dump(batched[i].Keys[k]), "%s: what the call left at key %d", what, k)
		}
	}
}

// dump describes what key holds on server 0: its type, its value when it
// is a string, and whether its TTL is none, short (up to 30s) or long.
func (f *Fixture) dump(key string) string {
	f.T.Helper()
	typ, err := f.Servers[0].Do("TYPE", key)
	require.NoError(f.T, err)
	out := fmt.Sprint(typ)
	if typ == "string" {
		v, err := f.Servers[0].Do("GET", key)
		require.NoError(f.T, err)
		out += " " + fmt.Sprint(v)
	}
	ttl, err := f.Servers[0].Do("PTTL", key)
	require.NoError(f.T, err)
	switch ms := ttl.(int64); {
	case ms < 0:
		out += ", no TTL"
	case ms <= 30000:
		out += ", short TTL"
	default:
		out += ", long TTL"
	}
	return out
}

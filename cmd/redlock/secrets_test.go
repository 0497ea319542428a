package main

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// No password shows in what redlock prints, right or wrong, given in
// --nodes or in $REDLOCK_NODES, whatever the command: a wrong password is
// a clear error that names the node; the right one logs the lock's life
// (--verbose) without it. The owner token never shows either.
func TestNoSecretsInOutput(t *testing.T) {
	t.Parallel()
	const right, wrong = "r1ght:pa55/word", "wr0ng:pa55/word"
	ss, _ := servers(t, 3)
	withPassword := func(pw string) string {
		urls := make([]string, len(ss))
		for i, s := range ss {
			urls[i] = "redis://" + url.UserPassword("", pw).String() + "@" + s.Addr
		}
		return strings.Join(urls, ",")
	}
	for _, s := range ss {
		_, err := s.Do("CONFIG", "SET", "requirepass", right)
		require.NoError(t, err)
	}
	secrets := []string{right, wrong, "r1ght", "wr0ng", "pa55", url.QueryEscape(right), url.QueryEscape(wrong)}
	clean := func(what, out string) {
		t.Helper()
		for _, s := range secrets {
			assert.NotContains(t, out, s, "%s shows a password", what)
		}
		assert.NotContains(t, out, "p:", "%s shows an owner token", what)
	}

	code, stdout, stderr := redlock(t, "status", "--nodes", withPassword(wrong), "secret-lock")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, stdout+stderr, ss[0].Addr, "the error names the node")
	assert.Contains(t, stdout+stderr, "WRONGPASS", "the error says the password is wrong")
	clean("status with a wrong password", stdout+stderr)

	code, stdout, stderr = redlock(t, "run", "--nodes", withPassword(wrong), "--no-wait", "secret-lock", "--", "true")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, stdout+stderr, "WRONGPASS")
	clean("run with a wrong password", stdout+stderr)

	p := startEnv(t, []string{nodesEnv + "=" + withPassword(wrong)}, "status", "secret-lock")
	code, stdout, stderr = p.wait(t, 30*time.Second), p.stdout.String(), p.stderr.String()
	assert.NotEqual(t, 0, code)
	clean("status with a wrong password in $"+nodesEnv, stdout+stderr)

	code, stdout, stderr = redlock(t, "run", "--nodes", withPassword(right), "--verbose", "--fencing", "secret-lock", "--", "true")
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "acquired", "--verbose logs the lock's life")
	clean("run --verbose", stdout+stderr)

	code, stdout, stderr = redlock(t, "status", "--nodes", withPassword(right), "secret-lock")
	assert.Equal(t, 1, code, stdout+stderr) // free
	clean("status", stdout+stderr)
}

package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
)

// The story runs to its end, and every metric has its say.
func TestRun(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(&out, conformance.Servers(t, 3), false))
	for _, want := range []string{
		"worker-3 gives up: true",
		"worker-2 holds nightly",
		"worker-2 is told it lost nightly: true",
		"redlock.lock.acquire.duration  {redlock.outcome=acquired}",
		"redlock.lock.acquire.duration  {redlock.outcome=refused}",
		"redlock.lock.wait.duration     {redlock.outcome=acquired}",
		"redlock.lock.wait.duration     {redlock.outcome=refused}",
		"redlock.lock.extensions        {redlock.outcome=ok}",
		"redlock.lock.extensions        {redlock.outcome=failed}",
		"redlock.lock.handovers         {}                                                                     1\n",
		"redlock.lock.held              {}                                                                     0\n",
		"redlock.lock.hold.duration     {redlock.outcome=lost}",
		"redlock.lock.hold.duration     {redlock.outcome=released}",
		"redlock.lock.lost              {}                                                                     1\n",
		"redlock.node.errors            {error.type=connection_refused,redlock.node.address=" + "127.0.0.1:",
	} {
		assert.Contains(t, out.String(), want)
	}
}

// With -json, the stdout exporters print every metric, and the spans.
func TestRunJSON(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(&out, conformance.Servers(t, 3), true))
	for _, want := range []string{
		`"Name":"redlock.Lock"`, `"Name":"redlock.TryLock"`, `"Name":"redlock.Unlock"`, `"Name":"redlock.KeepAlive"`, `"Name":"redlock.HandOver"`,
		`"Name":"redlock.lock.acquire.duration"`, `"Name":"redlock.lock.wait.duration"`, `"Name":"redlock.lock.held"`,
		`"Name":"redlock.lock.hold.duration"`, `"Name":"redlock.lock.extensions"`, `"Name":"redlock.lock.lost"`,
		`"Name":"redlock.lock.handovers"`, `"Name":"redlock.node.errors"`,
	} {
		assert.Contains(t, out.String(), want)
	}
}

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The demo tells its whole story on embedded nodes, and on real servers.
func TestDemo(t *testing.T) {
	t.Parallel()
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		checkDemo(t, "demo")
	})
	t.Run("servers", func(t *testing.T) {
		t.Parallel()
		_, nodes := servers(t, 3)
		checkDemo(t, "demo", "--nodes", nodes)
	})
}

func checkDemo(t *testing.T, args ...string) {
	t.Helper()
	p := start(t, args...)
	code := p.wait(t, 30*time.Second)
	out := p.stdout.String()
	assert.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, p.stderr)
	assert.Empty(t, p.stderr.String())
	assert.Less(t, p.took, 15*time.Second)
	for _, want := range []string{
		`worker-1  acquired "nightly"`,
		`worker-1  extended "nightly" on 3 of 3 nodes`,
		" dies: ",
		`worker-1  extended "nightly" on 2 of 3 nodes`,
		`worker-2  gives up after`,
		`worker-3  gives up after`,
		`is held by another owner`,
		`deletes redlock:{nightly} on the 2 nodes still up`,
		`worker-1  told: lost "nightly"`,
		"demo      done: ",
	} {
		assert.Contains(t, out, want)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		_, err := time.Parse("15:04:05.000", strings.Fields(line)[0])
		assert.NoError(t, err, "a line without its time: %q", line)
	}
}

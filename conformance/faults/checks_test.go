package faults

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// at returns began + ms milliseconds.
func at(began time.Time, ms int) time.Time { return began.Add(time.Duration(ms) * time.Millisecond) }

func TestExclusionViolations(t *testing.T) {
	b := time.Now()
	cases := []struct {
		name       string
		secs       []section
		violations int
		pairs      int
	}{
		{"one after the other", []section{
			{client: 0, start: at(b, 0), end: at(b, 10), until: at(b, 900)},
			{client: 1, start: at(b, 10), end: at(b, 20), until: at(b, 910)},
		}, 0, 0},
		{"overlap, both valid", []section{
			{client: 0, start: at(b, 0), end: at(b, 50), until: at(b, 900)},
			{client: 1, start: at(b, 40), end: at(b, 60), until: at(b, 940)},
		}, 1, 1},
		{"overlap after the first holder's validity ended", []section{
			{client: 0, start: at(b, 0), end: at(b, 1500), until: at(b, 900)},
			{client: 1, start: at(b, 950), end: at(b, 960), until: at(b, 1900)},
		}, 0, 1},
		{"the second began past its own validity", []section{
			{client: 0, start: at(b, 0), end: at(b, 50), until: at(b, 900)},
			{client: 1, start: at(b, 40), end: at(b, 60), until: at(b, 30)},
		}, 0, 1},
		{"three at once, unordered", []section{
			{client: 2, start: at(b, 20), end: at(b, 30), until: at(b, 900)},
			{client: 0, start: at(b, 0), end: at(b, 100), until: at(b, 900)},
			{client: 1, start: at(b, 10), end: at(b, 40), until: at(b, 900)},
		}, 3, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, pairs := exclusionViolations(b, c.secs)
			assert.Len(t, v, c.violations, "%v", v)
			assert.Equal(t, c.pairs, pairs)
		})
	}
}

func TestFenceViolations(t *testing.T) {
	b := time.Now()
	sec := func(ms int, fence uint64) section {
		return section{start: at(b, ms), end: at(b, ms+5), until: at(b, ms+900), fence: fence}
	}
	noCrash := func(from, to time.Time) bool { return false }
	crashAt := func(ms int) func(from, to time.Time) bool {
		return func(from, to time.Time) bool { return at(b, ms).After(from) && at(b, ms).Before(to) }
	}

	v, _ := fenceViolations(b, []section{sec(20, 3), sec(0, 1), sec(10, 2)}, nil)
	assert.Empty(t, v, "increasing in start order")

	v, _ = fenceViolations(b, []section{sec(0, 2), sec(10, 2)}, nil)
	assert.Len(t, v, 1, "equal tokens for two holders")

	v, explained := fenceViolations(b, []section{sec(0, 5), sec(2000, 1)}, noCrash)
	assert.Len(t, v, 1, "a regression with no crash in between")
	assert.Zero(t, explained)

	v, explained = fenceViolations(b, []section{sec(0, 5), sec(2000, 1)}, crashAt(500))
	assert.Empty(t, v, "a regression after a crash without persistence")
	assert.Equal(t, 1, explained)

	v, _ = fenceViolations(b, []section{sec(0, 5), sec(2000, 1)}, nil)
	assert.Len(t, v, 1, "durable servers: no excuse")

	late := section{start: at(b, 20), end: at(b, 30), until: at(b, 15), fence: 1}
	v, _ = fenceViolations(b, []section{sec(0, 1), late, sec(40, 2)}, nil)
	assert.Empty(t, v, "a section that began past its validity is not ordered")
}

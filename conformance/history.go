package conformance

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// History records holdings of a lock, a semaphore or an election, each as
// the span its holder believed it held: from the moment its acquisition
// returned to the end of its validity or the moment it began to release,
// whichever came first. It is safe for concurrent use. Check then looks
// for moments at which more holders held than allowed.
type History struct {
	mu    sync.Mutex
	spans []Span
}

// Span is one holding in a History.
type Span struct {
	Holder   string
	Slot     int // the semaphore slot held, or -1
	From, To time.Time
}

func (s Span) String() string {
	return fmt.Sprintf("%s (slot %d) from %s to %s", s.Holder, s.Slot, s.From.Format("15:04:05.000000"), s.To.Format("15:04:05.000000"))
}

// Add records that holder held slot (-1 for a lock that has none) from
// from to to. A span that ends before it begins (a validity that ran out
// before the acquisition returned) is not a holding and is left out.
func (h *History) Add(holder string, slot int, from, to time.Time) {
	if !to.After(from) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.spans = append(h.spans, Span{Holder: holder, Slot: slot, From: from, To: to})
}

// Len returns how many holdings were recorded.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.spans)
}

// MostAtOnce returns the largest number of holdings that overlap at one
// moment, and those holdings.
func (h *History) MostAtOnce() (int, []Span) {
	h.mu.Lock()
	spans := slices.Clone(h.spans)
	h.mu.Unlock()
	return mostAtOnce(spans)
}

func mostAtOnce(spans []Span) (int, []Span) {
	// A holding overlaps the most others at its own start, so looking at
	// every start suffices.
	best := []Span(nil)
	for _, s := range spans {
		var at []Span
		for _, o := range spans {
			if !o.From.After(s.From) && o.To.After(s.From) {
				at = append(at, o)
			}
		}
		if len(at) > len(best) {
			best = at
		}
	}
	return len(best), best
}

// Check fails t when more than limit holdings overlap at some moment, or
// two holdings of one slot do, and lists them.
func (h *History) Check(t testing.TB, limit int) {
	t.Helper()
	h.mu.Lock()
	spans := slices.Clone(h.spans)
	h.mu.Unlock()
	if n, at := mostAtOnce(spans); n > limit {
		t.Errorf("%d holders at once, more than %d:\n%s", n, limit, listSpans(at))
	}
	bySlot := map[int][]Span{}
	for _, s := range spans {
		if s.Slot >= 0 {
			bySlot[s.Slot] = append(bySlot[s.Slot], s)
		}
	}
	for slot, ss := range bySlot {
		if n, at := mostAtOnce(ss); n > 1 {
			t.Errorf("slot %d held by %d holders at once:\n%s", slot, n, listSpans(at))
		}
	}
}

func listSpans(spans []Span) string {
	lines := make([]string, len(spans))
	for i, s := range spans {
		lines[i] = "  " + s.String()
	}
	return strings.Join(lines, "\n")
}

package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/redlock-go/redlock/core"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// lines writes timestamped lines, "15:04:05.000 who       message". It is
// safe for concurrent use.
type lines struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lines) printf(who, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s %-9s %s\n", time.Now().Format("15:04:05.000"), who, msg)
}

// describe says what an event of the lock name, on a Locker of n nodes,
// means, for a log line.
func describe(e core.Event, n int) string {
	switch e.Kind {
	case core.Acquired:
		return fmt.Sprintf("acquired %q (valid %s)", e.Name, short(time.Until(e.Until)))
	case core.Extended:
		return fmt.Sprintf("extended %q on %d of %d nodes (valid %s)", e.Name, e.Nodes, n, short(time.Until(e.Until)))
	case core.ExtendFailed:
		return fmt.Sprintf("extension of %q confirmed by %d of %d nodes only; retrying while it is valid (%s): %s",
			e.Name, e.Nodes, n, short(time.Until(e.Until)), oneLine(e.Err))
	case core.Lost:
		return fmt.Sprintf("lost %q: %s", e.Name, oneLine(e.Err))
	case core.Released:
		return fmt.Sprintf("released %q", e.Name)
	}
	return fmt.Sprintf("%s %q", e.Kind, e.Name)
}

// oneLine returns err's message with its lines joined by "; ".
func oneLine(err error) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// short formats d for people: 850ms, 1.4s, 2m3.5s.
func short(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// spinner draws a progress line on a terminal until stopped. It waits a
// moment before the first frame, so that a short wait shows nothing.
type spinner struct {
	stop  chan struct{}
	done  chan struct{}
	shown bool // read after done is closed
}

const spinnerDelay = 300 * time.Millisecond

// startSpinner draws "⠋ label(elapsed)" on w every 100ms.
func startSpinner(w io.Writer, label func(elapsed time.Duration) string) *spinner {
	s := &spinner{stop: make(chan struct{}), done: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(s.done)
		frames := []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
		timer := time.NewTimer(spinnerDelay)
		defer timer.Stop()
		for i := 0; ; i++ {
			select {
			case <-s.stop:
				if s.shown {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case <-timer.C:
			}
			fmt.Fprintf(w, "\r\033[K%c %s", frames[i%len(frames)], label(time.Since(start)))
			s.shown = true
			timer.Reset(100 * time.Millisecond)
		}
	}()
	return s
}

// Stop clears the line and reports whether anything was drawn.
func (s *spinner) Stop() bool {
	close(s.stop)
	<-s.done
	return s.shown
}

package core

import (
	"context"
	"log/slog"
	"time"
)

// EventKind names what happened to a lock.
type EventKind int

// The events of a lock's life.
const (
	Acquired     EventKind = iota + 1 // a round acquired or refreshed the lock
	Extended                          // an extension was confirmed by a quorum
	ExtendFailed                      // an extension round was not confirmed; the keeper retries within the validity
	Lost                              // the lock can no longer be proven held
	Released                          // Unlock released the lock
)

func (k EventKind) String() string {
	switch k {
	case Acquired:
		return "acquired"
	case Extended:
		return "extended"
	case ExtendFailed:
		return "extend failed"
	case Lost:
		return "lost"
	case Released:
		return "released"
	}
	return "unknown"
}

// Event describes one step in a lock's life, for logs and metrics.
type Event struct {
	Kind  EventKind
	Name  string        // the lock's name
	Nodes int           // nodes that went along with the step
	Took  time.Duration // how long the round took
	Until time.Time     // end of validity after the step; zero when not held
	Err   error         // the node story of a failure, or why a lock was lost
	// HandOver is set on an Acquired event when a holder on the same Locker
	// handed the lock over (see Mutex.Unlock), and on the holder's Released
	// event when it did.
	HandOver bool
}

// SlogEvents returns an events function (see WithEvents) that logs each
// Event to logger: failures and losses at Warn, the rest at Debug.
func SlogEvents(logger *slog.Logger) func(Event) {
	return func(e Event) {
		level := slog.LevelDebug
		if e.Kind == ExtendFailed || e.Kind == Lost {
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{slog.String("lock", e.Name), slog.Int("nodes", e.Nodes), slog.Duration("took", e.Took)}
		if !e.Until.IsZero() {
			attrs = append(attrs, slog.Duration("valid_for", time.Until(e.Until)))
		}
		if e.Err != nil {
			attrs = append(attrs, slog.String("error", e.Err.Error()))
		}
		if e.HandOver {
			attrs = append(attrs, slog.Bool("hand_over", true))
		}
		logger.LogAttrs(context.Background(), level, "redlock: "+e.Kind.String(), attrs...)
	}
}

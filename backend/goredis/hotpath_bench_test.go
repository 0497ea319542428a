package goredis_test

import (
	"context"
	"testing"

	"github.com/redlock-go/redlock/core"
)

// BenchmarkNewMutexTryLock measures TryLock+Unlock over three nodes with a
// new Mutex per acquisition, the way most programs use the library, and
// with one Mutex reused.
func BenchmarkNewMutexTryLock(b *testing.B) {
	_, l := benchLocker(b, 3)
	ctx := context.Background()
	cycle := func(b *testing.B, m *core.Mutex) {
		if err := m.TryLock(ctx); err != nil {
			b.Fatal(err)
		}
		if err := m.Unlock(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cycle(b, l.NewMutex("hot"))
		}
	})
	b.Run("reused", func(b *testing.B) {
		b.ReportAllocs()
		m := l.NewMutex("hot")
		for b.Loop() {
			cycle(b, m)
		}
	})
}

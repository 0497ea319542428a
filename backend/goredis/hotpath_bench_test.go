package goredis_test

import (
	"context"
	"testing"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

// BenchmarkNewMutexTryLock measures TryLock+Unlock over three nodes with a
// new Mutex per acquisition, the way most programs use the library, and
// with one Mutex reused.
func BenchmarkNewMutexTryLock(b *testing.B) {
	servers := conformance.Servers(b, 3)
	var nodes []core.Node
	for _, s := range servers {
		nodes = append(nodes, harness{}.NewNode(b, s.Addr))
	}
	l, err := core.New(nodes)
	if err != nil {
		b.Fatal(err)
	}
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

package actors

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stratacache/stratacache/artifact"
)

// The engine counts what its callers asked of it once per call, whichever
// path served it: StoreFill in place or through a buffer, Load and View,
// hits and misses; failed calls are not stores or loads.
func TestOpStatsCountCallsOnce(t *testing.T) {
	ctx := context.Background()
	check := func(e *Engine, want OpStats) {
		t.Helper()
		var s EngineStats
		e.Stats(&s)
		if s.Ops != want {
			t.Fatalf("ops %+v, want %+v", s.Ops, want)
		}
	}
	// Fake tiers: StoreFill goes through a buffer and Store.
	e, _ := newEngine(t, []int64{1 << 20, 4 << 20}, []LinkConfig{wt()}, false)
	if err := e.Store(ctx, id("a"), payload(1, 1000), StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.StoreFill(ctx, id("b"), 500, StoreOptions{}, copyFill(payload(2, 500))); err != nil {
		t.Fatal(err)
	}
	if err := e.StoreFill(ctx, id("c"), 10, StoreOptions{}, func([]byte) error { return errors.New("client went away") }); err == nil {
		t.Fatal("failed fill stored")
	}
	if err := e.Store(ctx, id("huge"), make([]byte, 2<<20), StoreOptions{}); err == nil {
		t.Fatal("oversized store accepted")
	}
	if _, err := e.Load(ctx, nil, id("a"), Chain()); err != nil {
		t.Fatal(err)
	}
	v, _, err := e.View(ctx, id("b"), Chain())
	if err != nil {
		t.Fatal(err)
	}
	v.Release()
	if _, err := e.Load(ctx, nil, id("nope"), Chain()); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := e.Delete(ctx, id("a")); err != nil {
		t.Fatal(err)
	}
	check(e, OpStats{Loads: 3, LoadMisses: 1, LoadedBytes: 1500, Stores: 2, StoredBytes: 1500, Deletes: 1})

	// A memory tier on top: StoreFill writes in place.
	m, _, _ := memEngine(t, wt(), 1<<20)
	if err := m.StoreFill(ctx, id("d"), 4096, StoreOptions{}, copyFill(payload(3, 4096))); err != nil {
		t.Fatal(err)
	}
	check(m, OpStats{Stores: 1, StoredBytes: 4096})
}

// Loads of 4 KiB from every goroutine at once, over 64 keys: what the op
// counters cost when both cores count at the same time.
func BenchmarkEngineLoad4KParallel(b *testing.B) {
	e := benchEngine(b)
	defer e.Close()
	ctx := context.Background()
	const keys = 64
	for i := range keys {
		if err := e.Store(ctx, id(fmt.Sprint("p", i)), make([]byte, 4<<10), StoreOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(4 << 10)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 4<<10)
		ids := make([]artifact.ID, keys)
		for i := range ids {
			ids[i] = id(fmt.Sprint("p", i))
		}
		i := 0
		for pb.Next() {
			if _, err := e.Load(ctx, buf, ids[i%keys], Chain()); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

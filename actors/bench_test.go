package actors

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

func benchEngine(b testing.TB) *Engine {
	b.Helper()
	top := memTier(b, "cpu", 256<<20)
	e, err := NewEngine(Config{Tiers: []tiers.Tier{top}})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// The read paths the issue holds to zero allocations: Contains of a
// resident id, Load of 4 KiB into a caller buffer, and View.
func TestHotPathsDoNotAllocate(t *testing.T) {
	e := benchEngine(t)
	defer e.Close()
	ctx := context.Background()
	k := id("hot")
	if err := e.Store(ctx, k, make([]byte, 4096), StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	cases := map[string]func(){
		"contains": func() { _, _ = e.Contains(ctx, k, Chain()) },
		"load":     func() { _, _ = e.Load(ctx, buf, k, Chain()) },
		"view": func() {
			v, _, _ := e.View(ctx, k, Chain())
			v.Release()
		},
		"locate": func() { _, _, _ = e.Locate(ctx, k, Chain()) },
	}
	for name, f := range cases {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %.1f allocations per op", name, n)
		}
	}
}

func BenchmarkEngineContains(b *testing.B) {
	e := benchEngine(b)
	defer e.Close()
	ctx := context.Background()
	k := id("c")
	if err := e.Store(ctx, k, make([]byte, 4096), StoreOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if ok, _ := e.Contains(ctx, k, Chain()); !ok {
			b.Fatal("miss")
		}
	}
}

func benchLoad(b *testing.B, size int) {
	e := benchEngine(b)
	defer e.Close()
	ctx := context.Background()
	k := id("l")
	if err := e.Store(ctx, k, make([]byte, size), StoreOptions{}); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Load(ctx, buf, k, Chain()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEngineLoad4K(b *testing.B)  { benchLoad(b, 4<<10) }
func BenchmarkEngineLoad4M(b *testing.B)  { benchLoad(b, 4<<20) }
func BenchmarkEngineLoad16M(b *testing.B) { benchLoad(b, 16<<20) }

func benchStore(b *testing.B, size int) {
	e := benchEngine(b)
	defer e.Close()
	ctx := context.Background()
	ids := []string{"s0", "s1"}
	p := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.Store(ctx, id(ids[i&1]), p, StoreOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportCPU(b, cpu0, cpuOK)
}

// reportCPU reports the process's CPU time per operation since cpu0.
func reportCPU(b *testing.B, cpu0 time.Duration, ok bool) {
	if cpu1, _ := processCPU(); ok && cpu1 > cpu0 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

func BenchmarkEngineStore4M(b *testing.B)  { benchStore(b, 4<<20) }
func BenchmarkEngineStore16M(b *testing.B) { benchStore(b, 16<<20) }

func BenchmarkCopy4M(b *testing.B)  { benchCopy(b, 4<<20) }
func BenchmarkCopy16M(b *testing.B) { benchCopy(b, 16<<20) }

func benchCopy(b *testing.B, size int) {
	src, dst := make([]byte, size), make([]byte, size)
	b.SetBytes(int64(size))
	for i := 0; i < b.N; i++ {
		copy(dst, src)
	}
}

func BenchmarkEngineStore4K(b *testing.B) { benchStore(b, 4<<10) }

// Four goroutines storing 4 MiB artifacts: the path a multi-connection
// server takes.
func BenchmarkEngineStore4MParallel(b *testing.B) {
	e := benchEngine(b)
	defer e.Close()
	ctx := context.Background()
	b.SetBytes(4 << 20)
	b.ReportAllocs()
	b.SetParallelism(2) // 4 goroutines on 2 cores
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := n.Add(1)
		p := make([]byte, 4<<20)
		i := 0
		for pb.Next() {
			i++
			if err := e.Store(ctx, id(fmt.Sprintf("p%d-%d", w, i&7)), p, StoreOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Four goroutines storing 4 KiB artifacts of their own keys: what the
// engine's shared bookkeeping (the version clock, counters) costs when
// several connections store at once.
func BenchmarkEngineStore4KParallel(b *testing.B) {
	e := benchEngine(b)
	defer e.Close()
	ctx := context.Background()
	b.SetBytes(4 << 10)
	b.ReportAllocs()
	b.SetParallelism(2) // 4 goroutines on 2 cores
	var n atomic.Int64
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := n.Add(1)
		p := make([]byte, 4<<10)
		ids := []artifact.ID{id(fmt.Sprintf("q%d-0", w)), id(fmt.Sprintf("q%d-1", w))}
		i := 0
		for pb.Next() {
			i++
			if err := e.Store(ctx, ids[i&1], p, StoreOptions{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	reportCPU(b, cpu0, cpuOK)
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/eviction"
	"github.com/stratacache/stratacache/tiers/memory"
)

// benchResult is one JSON line of `bench engine`. Field names are an
// interface (issue 2): name, size, gbps or ops_per_s, memcpy_gbps, ratio.
type benchResult struct {
	Name           string   `json:"name"`
	Size           int64    `json:"size,omitempty"`
	GBps           float64  `json:"gbps,omitempty"`
	OpsPerS        float64  `json:"ops_per_s,omitempty"`
	MemcpyGBps     float64  `json:"memcpy_gbps,omitempty"`
	Ratio          float64  `json:"ratio,omitempty"`
	AllocsPerOp    *float64 `json:"allocs_per_op,omitempty"`
	RSSBytes       int64    `json:"rss_bytes,omitempty"`
	HeapInuseBytes int64    `json:"heap_inuse_bytes,omitempty"`
	CapacityBytes  int64    `json:"capacity_bytes,omitempty"`
	Artifacts      int64    `json:"artifacts,omitempty"`
	Rounds         int      `json:"rounds,omitempty"`
}

func runBenchEngine(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench engine", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	dur := fs.Duration("duration", 2*time.Second, "time per case (split into rounds that alternate with the copy() baseline)")
	rounds := fs.Int("rounds", 7, "alternating rounds per copy case; medians are reported")
	only := fs.String("cases", "load,store,contains,load_small,memory", "comma-separated cases to run")
	memGiB := fs.Float64("memory-gib", 2, "CPU tier size of the memory case, GiB")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rounds < 1 || *dur <= 0 || *memGiB <= 0 {
		return fmt.Errorf("bench engine: -rounds, -duration and -memory-gib must be positive")
	}
	emit := func(r benchResult) {
		if *asJSON {
			b, _ := json.Marshal(r)
			fmt.Fprintln(stdout, string(b))
			return
		}
		switch {
		case r.GBps > 0:
			fmt.Fprintf(stdout, "%-22s %9d B  %7.2f GB/s  copy %7.2f GB/s  ratio %.2f\n", r.Name, r.Size, r.GBps, r.MemcpyGBps, r.Ratio)
		case r.OpsPerS > 0:
			fmt.Fprintf(stdout, "%-22s %9d B  %12.0f ops/s  allocs/op %v\n", r.Name, r.Size, r.OpsPerS, *r.AllocsPerOp)
		default:
			fmt.Fprintf(stdout, "%-22s capacity %d B  artifacts %d  rss %d B  heap in use %d B\n", r.Name, r.CapacityBytes, r.Artifacts, r.RSSBytes, r.HeapInuseBytes)
		}
	}
	want := map[string]bool{}
	for _, c := range strings.Split(*only, ",") {
		want[strings.TrimSpace(c)] = true
	}
	b := &engineBench{dur: *dur, rounds: *rounds}
	for _, c := range []struct {
		name string
		run  func() ([]benchResult, error)
	}{
		{"load", b.load},
		{"store", b.store},
		{"contains", b.contains},
		{"load_small", b.loadSmall},
		{"memory", func() ([]benchResult, error) { return benchMemory(int64(*memGiB * (1 << 30))) }},
	} {
		if !want[c.name] {
			continue
		}
		rs, err := c.run()
		if err != nil {
			return fmt.Errorf("bench engine %s: %w", c.name, err)
		}
		for _, r := range rs {
			emit(r)
		}
	}
	return nil
}

type engineBench struct {
	dur    time.Duration
	rounds int
}

// newBenchEngine is one CPU tier of the given size under the engine, with
// the tier's default configuration (checksum computed lazily).
func newBenchEngine(capacity int64) (*actors.Engine, error) {
	return newBenchEngineWith(capacity, false)
}

func newBenchEngineWith(capacity int64, checksumOnPut bool) (*actors.Engine, error) {
	pol, err := eviction.New("lru", 0)
	if err != nil {
		return nil, err
	}
	t, err := memory.New(memory.Config{Name: "cpu", CapacityBytes: capacity, Policy: pol, ChecksumOnPut: checksumOnPut})
	if err != nil {
		return nil, err
	}
	return actors.NewEngine(actors.Config{Tiers: []tiers.Tier{t}})
}

func fill(b []byte, seed byte) []byte {
	for i := range b {
		b[i] = byte(i*31) ^ seed
	}
	return b
}

// timed runs op in a loop for about d and returns ops per second.
func timed(d time.Duration, op func() error) (float64, error) {
	var n int
	start := time.Now()
	deadline := start.Add(d)
	for {
		for i := 0; i < 16; i++ {
			if err := op(); err != nil {
				return 0, err
			}
		}
		n += 16
		if now := time.Now(); now.After(deadline) {
			return float64(n) / now.Sub(start).Seconds(), nil
		}
	}
}

// sideBySide alternates rounds of the engine op and of copy() of the same
// size, so both see the same machine load, and returns median GB/s of each.
func (b *engineBench) sideBySide(size int64, op func() error) (eng, cp float64, err error) {
	src := fill(make([]byte, size), 1)
	dst := fill(make([]byte, size), 2)
	per := b.dur / time.Duration(b.rounds)
	var es, cs []float64
	for r := 0; r < b.rounds; r++ {
		ops, err := timed(per, op)
		if err != nil {
			return 0, 0, err
		}
		es = append(es, ops*float64(size)/1e9)
		ops, _ = timed(per, func() error { copy(dst, src); return nil })
		cs = append(cs, ops*float64(size)/1e9)
	}
	return median(es), median(cs), nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

var benchSizes = []int64{4 << 20, 16 << 20}

func (b *engineBench) load() ([]benchResult, error) {
	e, err := newBenchEngine(256 << 20)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	ctx := context.Background()
	var out []benchResult
	for _, size := range benchSizes {
		id := artifact.MustID(artifact.NamespaceKV, "bench/load/"+strconv.FormatInt(size, 10))
		if err := e.Store(ctx, id, fill(make([]byte, size), 3), actors.StoreOptions{}); err != nil {
			return nil, err
		}
		buf := fill(make([]byte, size), 4)
		g, c, err := b.sideBySide(size, func() error {
			_, err := e.Load(ctx, buf, id, actors.Chain())
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, benchResult{Name: "load", Size: size, GBps: g, MemcpyGBps: c, Ratio: g / c, Rounds: b.rounds})
	}
	return out, nil
}

// store measures the default configuration as "store" and, for the
// record, the tier with ChecksumOnPut as "store_checksum_on_put".
func (b *engineBench) store() ([]benchResult, error) {
	var out []benchResult
	for _, onPut := range []bool{false, true} {
		rs, err := b.storeWith(onPut)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

func (b *engineBench) storeWith(checksumOnPut bool) ([]benchResult, error) {
	e, err := newBenchEngineWith(256<<20, checksumOnPut)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	name := "store"
	if checksumOnPut {
		name = "store_checksum_on_put"
	}
	ctx := context.Background()
	var out []benchResult
	for _, size := range benchSizes {
		// Two ids alternate so that every store replaces a resident
		// artifact: the steady state of a cache, allocation and free included.
		ids := []artifact.ID{
			artifact.MustID(artifact.NamespaceKV, "bench/store/a/"+strconv.FormatInt(size, 10)),
			artifact.MustID(artifact.NamespaceKV, "bench/store/b/"+strconv.FormatInt(size, 10)),
		}
		p := fill(make([]byte, size), 5)
		i := 0
		g, c, err := b.sideBySide(size, func() error {
			i++
			return e.Store(ctx, ids[i&1], p, actors.StoreOptions{})
		})
		if err != nil {
			return nil, err
		}
		out = append(out, benchResult{Name: name, Size: size, GBps: g, MemcpyGBps: c, Ratio: g / c, Rounds: b.rounds})
	}
	return out, nil
}

func (b *engineBench) contains() ([]benchResult, error) {
	e, err := newBenchEngine(64 << 20)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	ctx := context.Background()
	id := artifact.MustID(artifact.NamespaceKV, "bench/contains")
	if err := e.Store(ctx, id, make([]byte, 4096), actors.StoreOptions{}); err != nil {
		return nil, err
	}
	op := func() error {
		ok, err := e.Contains(ctx, id, actors.Chain())
		if !ok && err == nil {
			err = fmt.Errorf("resident id not found")
		}
		return err
	}
	ops, err := timed(b.dur, op)
	if err != nil {
		return nil, err
	}
	allocs := allocsPerOp(op)
	return []benchResult{{Name: "contains", Size: 4096, OpsPerS: ops, AllocsPerOp: &allocs}}, nil
}

func (b *engineBench) loadSmall() ([]benchResult, error) {
	e, err := newBenchEngine(64 << 20)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	ctx := context.Background()
	id := artifact.MustID(artifact.NamespaceKV, "bench/load_small")
	if err := e.Store(ctx, id, fill(make([]byte, 4096), 6), actors.StoreOptions{}); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	op := func() error {
		_, err := e.Load(ctx, buf, id, actors.Chain())
		return err
	}
	ops, err := timed(b.dur, op)
	if err != nil {
		return nil, err
	}
	allocs := allocsPerOp(op)
	return []benchResult{{Name: "load_small", Size: 4096, OpsPerS: ops, AllocsPerOp: &allocs}}, nil
}

// allocsPerOp counts heap allocations of op the way testing.AllocsPerRun
// does (mallocs over many runs), without a testing dependency in the binary.
func allocsPerOp(op func() error) float64 {
	const n = 10000
	_ = op()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		_ = op()
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / n
}

// benchMemory fills a CPU tier of capacity bytes with 4 MiB artifacts (and
// then some, so eviction runs) and reports the process RSS and Go heap in
// use: payloads live off the Go heap, so the heap must stay small.
func benchMemory(capacity int64) ([]benchResult, error) {
	e, err := newBenchEngine(capacity)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	ctx := context.Background()
	const size = 4 << 20
	p := fill(make([]byte, size), 7)
	n := int(capacity/size) + 16
	for i := 0; i < n; i++ {
		id := artifact.MustID(artifact.NamespaceKV, "bench/memory/"+strconv.Itoa(i))
		p[0], p[1] = byte(i), byte(i>>8)
		if err := e.Store(ctx, id, p, actors.StoreOptions{}); err != nil {
			return nil, err
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var st actors.EngineStats
	e.Stats(&st)
	rss, err := rssBytes()
	if err != nil {
		return nil, err
	}
	return []benchResult{{Name: "memory", Size: size, CapacityBytes: capacity, Artifacts: st.Tiers[0].Artifacts,
		RSSBytes: rss, HeapInuseBytes: int64(ms.HeapInuse)}}, nil
}

// rssBytes reads the resident set size of this process from /proc.
func rssBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("read rss: unexpected /proc/self/statm %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}

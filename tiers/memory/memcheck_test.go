package memory

import (
	"bytes"
	"context"
	"flag"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stratacache/stratacache/tiers"
)

var memcheck = flag.Bool("memcheck", false, "fill a 2 GiB tier with 4 MiB artifacts and check RSS and Go heap")

// rssBytes reads the resident set size from /proc/self/statm.
func rssBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(bytes.TrimSpace(b)))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// TestMemCheck: the payload bytes live off the Go heap, and RSS stays within
// 1.1x the capacity when the tier is full and churning.
// Run: go test -run MemCheck -memcheck -v ./tiers/memory/
func TestMemCheck(t *testing.T) {
	if !*memcheck {
		t.Skip("pass -memcheck to run")
	}
	const capacity = 2 << 30
	const size = 4 << 20
	tr := newTestTier(t, capacity, func(c *Config) { c.MaxArtifactBytes = size })
	p := fill(5, size)
	rss0 := rssBytes(t)
	// 1.5x the capacity: the second third of the Puts evicts.
	for i := range capacity / size * 3 / 2 {
		if err := tr.Put(context.Background(), key(i), p, tiers.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss := rssBytes(t)
	s := stats(tr)
	t.Logf("capacity %d MiB, used %d MiB, %d artifacts, %d evictions", capacity>>20, s.UsedBytes>>20, s.Artifacts, s.Evictions)
	t.Logf("RSS before %d MiB, after %d MiB (%.3fx capacity); Go HeapInuse %.1f MiB, HeapSys %.1f MiB",
		rss0>>20, rss>>20, float64(rss)/capacity, float64(ms.HeapInuse)/(1<<20), float64(ms.HeapSys)/(1<<20))
	if s.UsedBytes != capacity {
		t.Fatalf("tier not full: used %d", s.UsedBytes)
	}
	if rss > capacity*11/10 {
		t.Fatalf("RSS %d > 1.1x capacity", rss)
	}
	if ms.HeapInuse >= 64<<20 {
		t.Fatalf("Go heap in use %d >= 64 MiB", ms.HeapInuse)
	}
}

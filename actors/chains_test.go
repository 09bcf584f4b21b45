package actors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/cxl"
	"github.com/stratacache/stratacache/tiers/disk"
)

// chainKind builds the lower tiers of a test chain on dir (the same dir
// reopens the same media).
type chainKind struct {
	name  string
	lower func(t *testing.T, dir string) []tiers.Tier
}

func openCXL(t *testing.T, dir string, capacity int64) tiers.Tier {
	t.Helper()
	c, err := cxl.Open(cxl.Config{Name: "cxl", Path: filepath.Join(dir, "cxl.pool"), CapacityBytes: capacity, MaxArtifacts: 1024, TrustPutChecksum: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func openDisk(t *testing.T, dir string, capacity int64, dur disk.Durability) tiers.Tier {
	t.Helper()
	d, err := disk.Open(disk.Config{Name: "disk", Path: filepath.Join(dir, "disk.tier"), CapacityBytes: capacity, MaxArtifacts: 1024, Durability: dur, TrustPutChecksum: true})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var chainKinds = []chainKind{
	{"cpu-memory", func(t *testing.T, dir string) []tiers.Tier { return []tiers.Tier{memTier(t, "low", 16<<20)} }},
	{"cpu-cxl", func(t *testing.T, dir string) []tiers.Tier { return []tiers.Tier{openCXL(t, dir, 16<<20)} }},
	{"cpu-disk", func(t *testing.T, dir string) []tiers.Tier {
		return []tiers.Tier{openDisk(t, dir, 16<<20, disk.DurabilitySync)}
	}},
	{"cpu-cxl-disk", func(t *testing.T, dir string) []tiers.Tier {
		return []tiers.Tier{openCXL(t, dir, 1<<20), openDisk(t, dir, 16<<20, disk.DurabilityNone)}
	}},
}

func buildChain(t *testing.T, k chainKind, dir string, policy LinkPolicy, cpuBytes int64) (*Engine, []tiers.Tier) {
	t.Helper()
	ts := append([]tiers.Tier{memTier(t, "cpu", cpuBytes)}, k.lower(t, dir)...)
	links := make([]LinkConfig, len(ts)-1)
	for i := range links {
		links[i] = LinkConfig{Policy: policy, MaxDirtyBytes: 4 << 20, FlushBatchBytes: 1 << 20}
	}
	e, err := NewEngine(Config{Tiers: ts, Links: links, PromoteOnHit: true})
	if err != nil {
		t.Fatal(err)
	}
	return e, ts
}

// The engine's behaviour over every kind of chain, write-back and
// write-through: stores survive the top tier's evictions, replaced and
// deleted artifacts never come back, prefer and exact stores leave no older
// copy anywhere, and after a clean restart over the same media everything
// flushed is served and new versions start above the old ones.
func TestEngineOverEveryChain(t *testing.T) {
	for _, k := range chainKinds {
		for _, policy := range []LinkPolicy{WriteBack, WriteThrough} {
			t.Run(k.name+"/"+policy.String(), func(t *testing.T) {
				dir := t.TempDir()
				ctx := context.Background()
				e, ts := buildChain(t, k, dir, policy, 256<<10)
				const n, size = 60, 16 << 10
				want := map[int][]byte{}
				for i := 0; i < n; i++ {
					p := stamp(i, 1, size)
					if err := e.Store(ctx, id(fmt.Sprint("k", i)), p, StoreOptions{}); err != nil {
						t.Fatal(err)
					}
					want[i] = p
				}
				// Replace some, delete some.
				for i := 0; i < n; i += 3 {
					p := stamp(i, 2, size/2)
					if err := e.Store(ctx, id(fmt.Sprint("k", i)), p, StoreOptions{}); err != nil {
						t.Fatal(err)
					}
					want[i] = p
				}
				for i := 1; i < n; i += 5 {
					if _, err := e.Delete(ctx, id(fmt.Sprint("k", i))); err != nil {
						t.Fatal(err)
					}
					delete(want, i)
				}
				// A prefer store into the bottom tier leaves no older copy
				// above it; an exact store into the top none below.
				bottom := ts[len(ts)-1].Name()
				pp := stamp(2, 3, size)
				if err := e.Store(ctx, id("k2"), pp, StoreOptions{Access: Prefer(bottom)}); err != nil {
					t.Fatal(err)
				}
				want[2] = pp
				for _, tr := range ts[:len(ts)-1] {
					if v, ok := tr.Version(id("k2")); ok {
						t.Fatalf("tier %s kept a copy (version %d) above a prefer store", tr.Name(), v)
					}
				}
				pe := stamp(5, 4, size)
				if err := e.Store(ctx, id("k5"), pe, StoreOptions{Access: Exact("cpu")}); err != nil {
					t.Fatal(err)
				}
				want[5] = pe
				for _, tr := range ts[1:] {
					if tr.Contains(id("k5")) {
						t.Fatalf("tier %s kept a copy below an exact store", tr.Name())
					}
				}
				optional := map[int]bool{}
				check := func(e *Engine, when string) {
					t.Helper()
					for i := 0; i < n; i++ {
						got, err := e.Load(ctx, nil, id(fmt.Sprint("k", i)), Chain())
						w, ok := want[i]
						switch {
						case !ok && !errors.Is(err, ErrNotFound):
							t.Fatalf("%s: deleted k%d served (%v)", when, i, err)
						case ok && err != nil && (!optional[i] || !errors.Is(err, ErrNotFound)):
							t.Fatalf("%s: k%d: %v", when, i, err)
						case ok && err == nil && !bytes.Equal(got, w):
							t.Fatalf("%s: k%d holds another version", when, i)
						}
					}
				}
				check(e, "running")
				if err := e.Close(); err != nil {
					t.Fatal(err)
				}
				persistent := k.name != "cpu-memory"
				if !persistent {
					return
				}
				// A restart over the same media: the CPU tier is new and
				// empty, the rest comes back (Close drained write-back).
				e2, ts2 := buildChain(t, k, dir, policy, 256<<10)
				defer e2.Close()
				// k5 was only in the CPU tier, unless an eviction demoted it.
				optional[5] = true
				check(e2, "after restart")
				var hwm uint64
				for _, tr := range ts2 {
					if v, ok := tr.Version(id("k2")); ok {
						hwm = max(hwm, v)
					}
				}
				p := stamp(2, 5, size)
				if err := e2.Store(ctx, id("k2"), p, StoreOptions{}); err != nil {
					t.Fatal(err)
				}
				var now uint64
				for _, tr := range ts2 { // promotions may have moved it down again
					if v, ok := tr.Version(id("k2")); ok {
						now = max(now, v)
					}
				}
				if now <= hwm {
					t.Fatalf("a store after the restart got version %d, not above %d", now, hwm)
				}
				if got, err := e2.Load(ctx, nil, id("k2"), Chain()); err != nil || !bytes.Equal(got, p) {
					t.Fatalf("k2 after the restart's store: %v", err)
				}
			})
		}
	}
}

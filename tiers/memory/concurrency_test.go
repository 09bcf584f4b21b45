package memory

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// checkIndexAccounting verifies that, with no view outstanding, the bytes in
// use are exactly the extents of the indexed artifacts.
func checkIndexAccounting(t *testing.T, tr *Tier) {
	t.Helper()
	var want, n int64
	for i := range tr.shards {
		for _, e := range tr.shards[i].m {
			want += e.ext.size
			n++
			if got := e.refs.Load(); got != 1 {
				t.Fatalf("entry %s holds %d refs with no view outstanding", e.id(), got)
			}
		}
	}
	s := stats(tr)
	if s.UsedBytes != want || s.Artifacts != n || s.PendingBytes != 0 {
		t.Fatalf("stats %+v; index holds %d artifacts, %d bytes", s, n, want)
	}
	if tr.policy.Len() != int(n) {
		t.Fatalf("policy holds %d keys, index %d", tr.policy.Len(), n)
	}
}

// Eight writers with random sizes, readers holding views, deletes and pins:
// the budget holds at every step and the books balance at the end.
func TestConcurrentBudget(t *testing.T) {
	const capacity = 8 << 20
	tr := newTestTier(t, capacity, func(c *Config) { c.MaxArtifactBytes = 2 << 20 })
	var evicted atomic.Int64
	tr.SetEvictFunc(func(_ context.Context, ev tiers.Evicted) {
		b := ev.View.Bytes()
		if ev.View.Meta().Checksum != artifact.Checksum(b) {
			t.Errorf("victim %s: checksum mismatch", ev.ID)
		}
		evicted.Add(1)
		ev.View.Release()
	})
	var wg sync.WaitGroup
	var over atomic.Int64
	checkBudget := func() {
		var s tiers.Stats
		tr.Stats(&s)
		if s.UsedBytes > s.CapacityBytes {
			over.Store(s.UsedBytes)
		}
	}
	// Writers never hold views: a writer waiting for space that only its own
	// views hold would wait out SpaceWait (by design, not a deadlock).
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			buf := make([]byte, 2<<20)
			for i := range 300 {
				id := key(r.IntN(64))
				switch op := r.IntN(10); {
				case op < 7:
					n := 4096 + r.IntN(2<<20-4096)
					p := buf[:n]
					binary.LittleEndian.PutUint64(p, uint64(i))
					err := tr.Put(context.Background(), id, p, tiers.PutOptions{Pin: r.IntN(20) == 0})
					if err != nil && !errors.Is(err, tiers.ErrNoSpace) {
						t.Errorf("Put: %v", err)
						return
					}
				case op < 9:
					del(tr, id)
				default:
					_ = tr.Unpin(id)
				}
				checkBudget()
			}
		}()
	}
	// Readers hold up to three views at a time across the writers' Puts.
	var writersDone atomic.Bool
	var rg sync.WaitGroup
	for g := range 2 {
		rg.Add(1)
		go func() {
			defer rg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 99))
			var held []tiers.View
			for !writersDone.Load() {
				if v, err := tr.View(key(r.IntN(64))); err == nil {
					held = append(held, v)
				}
				if len(held) > 3 || (len(held) > 0 && r.IntN(3) == 0) {
					v := held[0]
					if v.Meta().Checksum != artifact.Checksum(v.Bytes()) {
						t.Errorf("held view changed")
					}
					v.Release()
					held = held[1:]
				}
				checkBudget()
			}
			for _, v := range held {
				v.Release()
			}
		}()
	}
	wg.Wait()
	writersDone.Store(true)
	rg.Wait()
	if o := over.Load(); o != 0 {
		t.Fatalf("used %d bytes > capacity %d", o, int64(capacity))
	}
	tr.allocMu.Lock()
	used := tr.alloc.used
	tr.allocMu.Unlock()
	if used > capacity {
		t.Fatalf("allocator used %d > capacity", used)
	}
	checkIndexAccounting(t, tr)
	if evicted.Load() == 0 {
		t.Fatal("the workload never evicted: not a test of the budget")
	}
	if s := stats(tr); s.Evictions != uint64(evicted.Load()) {
		t.Fatalf("evictions %d, hook saw %d", s.Evictions, evicted.Load())
	}
}

// versioned returns a payload whose every 8-byte word is v.
func versioned(v uint64, n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], v)
	}
	return b
}

// wholeVersion reports whether every word of b carries the same version.
func wholeVersion(b []byte) bool {
	v := binary.LittleEndian.Uint64(b)
	for i := 8; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:]) != v {
			return false
		}
	}
	return true
}

// Readers of a key that is replaced over and over see a whole old or a
// whole new payload, never a mix.
func TestAtomicReplaceUnderReaders(t *testing.T) {
	const size = 256 << 10
	tr := newTestTier(t, 4<<20)
	id := artifact.MustID(artifact.NamespaceKV, "hot")
	if err := tr.Put(context.Background(), id, versioned(0, size), tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]byte, size)
			for !stop.Load() {
				if g == 0 {
					v, err := tr.View(id)
					if err != nil {
						t.Errorf("View: %v", err)
						return
					}
					if !wholeVersion(v.Bytes()) || v.Meta().Checksum != artifact.Checksum(v.Bytes()) {
						t.Errorf("view saw a mixed payload")
					}
					v.Release()
				} else {
					got, err := tr.Get(dst, id)
					if err != nil {
						t.Errorf("Get: %v", err)
						return
					}
					if !wholeVersion(got) {
						t.Errorf("Get saw a mixed payload")
					}
				}
				reads.Add(1)
			}
		}()
	}
	for v := uint64(1); v <= 150; v++ {
		if err := tr.Put(context.Background(), id, versioned(v, size), tiers.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for reads.Load() < 100 {
		// make sure readers overlapped some writes
		if err := tr.Put(context.Background(), id, versioned(151, size), tiers.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	got, _ := tr.Get(make([]byte, size), id)
	if !bytes.Equal(got, versioned(binary.LittleEndian.Uint64(got), size)) {
		t.Fatal("final payload mixed")
	}
	checkIndexAccounting(t, tr)
}

func TestReadPathsDoNotAllocate(t *testing.T) {
	tr := newTestTier(t, 1<<20)
	id := key(1)
	if err := tr.Put(context.Background(), id, fill(1, 4096), tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 4096)
	missing := key(2)
	cases := map[string]func(){
		"Get":      func() { _, _ = tr.Get(dst, id) },
		"GetMiss":  func() { _, _ = tr.Get(dst, missing) },
		"Contains": func() { _ = tr.Contains(id) },
		"View": func() {
			v, err := tr.View(id)
			if err == nil {
				v.Release()
			}
		},
		"Stats": func() {
			var s tiers.Stats
			tr.Stats(&s)
		},
	}
	for name, f := range cases {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s allocates %.1f times per call", name, n)
		}
	}
}

package duel

import "testing"

func evictAll(t *testing.T, d *Duel) []uint64 {
	t.Helper()
	var out []uint64
	for {
		k, ok := d.Evict()
		if !ok {
			return out
		}
		out = append(out, k)
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLRUModeOrder(t *testing.T) {
	d := New(100)
	for k := uint64(1); k <= 5; k++ {
		d.Insert(k)
	}
	d.Touch(2) // 2 moves to protected, most recent
	d.Touch(1)
	d.Pin(3)
	if d.Filtering() {
		t.Fatal("a fresh policy starts in LRU mode")
	}
	// Least recent first across both lists, skipping pinned 3.
	if got := evictAll(t, d); !equal(got, []uint64{4, 5, 2, 1}) {
		t.Fatalf("LRU order %v, want [4 5 2 1]", got)
	}
	if d.Len() != 1 || !d.Contains(3) {
		t.Fatalf("len %d, contains 3 %v", d.Len(), d.Contains(3))
	}
	d.Unpin(3)
	if k, ok := d.Evict(); !ok || k != 3 {
		t.Fatalf("evicted %d %v, want 3", k, ok)
	}
}

func TestFilterModeEvictsProbationFirst(t *testing.T) {
	c := newCore(20, true, DefaultConfig())
	for k := uint64(1); k <= 4; k++ {
		c.insert(k)
	}
	c.touch(1)
	c.touch(2) // protected: 2 (most recent), 1
	for k := uint64(5); k <= 8; k++ {
		c.insert(k)
	}
	// Probation 3,4,5,6,7,8 exceeds 5% of 20 (= 1): probation tail first.
	var got []uint64
	for i := 0; i < 5; i++ {
		k, _ := c.evict()
		got = append(got, k)
	}
	if !equal(got, []uint64{3, 4, 5, 6, 7}) {
		t.Fatalf("filter order %v, want [3 4 5 6 7]", got)
	}
	// Probation is down to its share: the protected tail (1) is demoted,
	// and 8, older in probation, goes first.
	k, _ := c.evict()
	if k != 8 {
		t.Fatalf("evicted %d, want 8", k)
	}
	// A ghost hit is admitted to protected.
	c.insert(3)
	if i := c.idx.get(3); c.nodes[i].seg != segProtected {
		t.Fatalf("ghost hit landed in segment %d", c.nodes[i].seg)
	}
}

func TestGhostIsBounded(t *testing.T) {
	d := New(4)
	for k := uint64(1); k <= 1000; k++ {
		for d.Len() >= 4 {
			if _, ok := d.Evict(); !ok {
				t.Fatal("nothing to evict")
			}
		}
		d.Insert(k)
	}
	if g := d.c.ghost.len(); g != DefaultConfig().GhostFactor*4 {
		t.Fatalf("ghost holds %d ids, want its bound %d", g, DefaultConfig().GhostFactor*4)
	}
	if d.c.idx.n != 4 {
		t.Fatalf("index holds %d keys, want 4", d.c.idx.n)
	}
	// The oldest evictions are forgotten, the latest remembered.
	if d.c.ghost.contains(1) || !d.c.ghost.contains(996) {
		t.Fatalf("ghost window wrong: 1 %v, 996 %v", d.c.ghost.contains(1), d.c.ghost.contains(996))
	}
	d.Remove(1000)
	if d.Contains(1000) || d.Len() != 3 {
		t.Fatalf("remove: len %d", d.Len())
	}
}

func TestAllPinned(t *testing.T) {
	d := New(2)
	d.Insert(1)
	d.Insert(2)
	d.Pin(1)
	d.Pin(2)
	d.Pin(2)
	d.Unpin(2)
	if _, ok := d.Evict(); ok {
		t.Fatal("evicted a pinned key")
	}
	d.Unpin(2)
	if k, ok := d.Evict(); !ok || k != 2 {
		t.Fatalf("evicted %d %v, want 2", k, ok)
	}
}

func TestDuelSwitchesToFilterOnScans(t *testing.T) {
	// A hot set of 50 keys revisited between long scans of fresh keys:
	// LRU loses the hot set to every scan, the filter keeps it.
	d := New(200)
	next := uint64(1000)
	for round := 0; round < 200; round++ {
		for k := uint64(1); k <= 50; k++ {
			access(d, 200, k)
		}
		for i := 0; i < 400; i++ {
			access(d, 200, next)
			next++
		}
	}
	if !d.Filtering() {
		t.Fatalf("still in LRU mode (shadow hits lru %.0f, filter %.0f)", d.hitsLR, d.hitsFL)
	}
}

// access applies one access the way the simulator does.
func access(d *Duel, capacity int, k uint64) {
	if d.Contains(k) {
		d.Touch(k)
		return
	}
	for d.Len() >= capacity {
		d.Evict()
	}
	d.Insert(k)
}

package memory

import (
	"math/rand/v2"
	"testing"
)

// checkAllocator verifies the free structures against the allocated set:
// free runs are disjoint, never adjacent (coalesced), never overlap an
// allocated extent, and free + used == capacity.
func checkAllocator(t testing.TB, a *allocator, live map[int64]int64) {
	t.Helper()
	var freeTotal int64
	prevEnd := int64(-1)
	a.walkFree(func(e extent) {
		if e.size <= 0 || e.off < 0 || e.off+e.size > a.capacity {
			t.Fatalf("free extent %+v out of range", e)
		}
		if e.off%a.align != 0 || e.size%a.align != 0 {
			t.Fatalf("free extent %+v misaligned", e)
		}
		if e.off <= prevEnd {
			t.Fatalf("free extent %+v overlaps or touches the previous run ending at %d (not coalesced)", e, prevEnd)
		}
		prevEnd = e.off + e.size
		freeTotal += e.size
	})
	if len(a.byStart) != a.bySize.Len() || len(a.byEnd) != a.bySize.Len() {
		t.Fatalf("index sizes differ: bySize %d byStart %d byEnd %d", a.bySize.Len(), len(a.byStart), len(a.byEnd))
	}
	var usedTotal int64
	for off, size := range live {
		usedTotal += size
		for o2, s2 := range live {
			if o2 != off && off < o2+s2 && o2 < off+size {
				t.Fatalf("live extents [%d,+%d) and [%d,+%d) overlap", off, size, o2, s2)
			}
		}
		a.walkFree(func(e extent) {
			if off < e.off+e.size && e.off < off+size {
				t.Fatalf("live extent [%d,+%d) overlaps free %+v", off, size, e)
			}
		})
	}
	if usedTotal != a.used {
		t.Fatalf("used %d, live extents sum %d", a.used, usedTotal)
	}
	if freeTotal+a.used != a.capacity {
		t.Fatalf("free %d + used %d != capacity %d", freeTotal, a.used, a.capacity)
	}
}

func TestAllocatorRoundsAndCoalesces(t *testing.T) {
	a := newAllocator(64<<10+100, 4096) // capacity rounds down to 16 units
	if a.capacity != 64<<10 {
		t.Fatalf("capacity %d, want %d", a.capacity, 64<<10)
	}
	x, ok := a.alloc(1)
	if !ok || x.size != 4096 {
		t.Fatalf("alloc(1) = %+v %v, want one 4 KiB unit", x, ok)
	}
	y, _ := a.alloc(4097) // two units
	z, _ := a.alloc(4096)
	if y.size != 8192 || z.size != 4096 {
		t.Fatalf("sizes %d %d", y.size, z.size)
	}
	live := map[int64]int64{x.off: x.size, y.off: y.size, z.off: z.size}
	checkAllocator(t, a, live)

	// Free the middle, then its neighbours: everything merges into one run.
	a.free(y)
	delete(live, y.off)
	checkAllocator(t, a, live)
	if a.freeExtents() != 2 {
		t.Fatalf("free runs %d, want 2 (the hole and the tail)", a.freeExtents())
	}
	a.free(x)
	delete(live, x.off)
	a.free(z)
	delete(live, z.off)
	checkAllocator(t, a, live)
	if a.freeExtents() != 1 || a.largestFree() != a.capacity {
		t.Fatalf("after freeing all: %d runs, largest %d", a.freeExtents(), a.largestFree())
	}
	if _, ok := a.alloc(0); ok {
		t.Fatal("alloc(0) succeeded")
	}
	if _, ok := a.alloc(a.capacity + 1); ok {
		t.Fatal("alloc beyond capacity succeeded")
	}
}

func TestAllocatorBestFit(t *testing.T) {
	a := newAllocator(100*4096, 4096)
	var xs []extent
	for _, units := range []int64{10, 1, 3, 1, 20, 1} {
		x, ok := a.alloc(units * 4096)
		if !ok {
			t.Fatal("alloc failed")
		}
		xs = append(xs, x)
	}
	a.free(xs[0]) // hole of 10 units
	a.free(xs[2]) // hole of 3 units
	a.free(xs[4]) // hole of 20 units
	x, _ := a.alloc(3 * 4096)
	if x.off != xs[2].off {
		t.Fatalf("3-unit alloc at %d, want the 3-unit hole at %d", x.off, xs[2].off)
	}
	y, _ := a.alloc(9 * 4096)
	if y.off != xs[0].off {
		t.Fatalf("9-unit alloc at %d, want the 10-unit hole at %d", y.off, xs[0].off)
	}
}

func TestAllocatorFragmentation(t *testing.T) {
	const units = 64
	a := newAllocator(units*4096, 4096)
	var xs []extent
	for range units {
		x, ok := a.alloc(4096)
		if !ok {
			t.Fatal("alloc failed")
		}
		xs = append(xs, x)
	}
	live := map[int64]int64{}
	for i, x := range xs {
		if i%2 == 0 {
			a.free(x)
		} else {
			live[x.off] = x.size
		}
	}
	checkAllocator(t, a, live)
	// Half the arena is free, but only in single units.
	if _, ok := a.alloc(2 * 4096); ok {
		t.Fatal("2-unit alloc succeeded in a fully fragmented arena")
	}
	if a.freeExtents() != units/2 || a.largestFree() != 4096 {
		t.Fatalf("runs %d largest %d", a.freeExtents(), a.largestFree())
	}
	for i, x := range xs {
		if i%2 == 1 {
			a.free(x)
			delete(live, x.off)
		}
	}
	checkAllocator(t, a, live)
	if x, ok := a.alloc(units * 4096); !ok || x.off != 0 {
		t.Fatalf("whole-arena alloc after freeing all: %+v %v", x, ok)
	}
}

// runAllocatorOps interprets ops as a random alloc/free sequence and checks
// invariants after every step.
func runAllocatorOps(t testing.TB, ops []byte) {
	a := newAllocator(256*4096, 4096)
	live := map[int64]int64{}
	var order []extent
	for i := 0; i+1 < len(ops); i += 2 {
		if ops[i]%3 != 0 || len(order) == 0 {
			n := int64(ops[i+1])*1000 + 1
			x, ok := a.alloc(n)
			if !ok {
				if n <= a.largestFree() {
					t.Fatalf("alloc(%d) failed with a %d-byte free run", n, a.largestFree())
				}
				continue
			}
			if x.size < n || x.size-n >= a.align {
				t.Fatalf("alloc(%d) gave %d bytes", n, x.size)
			}
			live[x.off] = x.size
			order = append(order, x)
		} else {
			j := int(ops[i+1]) % len(order)
			x := order[j]
			order = append(order[:j], order[j+1:]...)
			a.free(x)
			delete(live, x.off)
		}
		checkAllocator(t, a, live)
	}
	for _, x := range order {
		a.free(x)
	}
	if a.used != 0 || a.freeExtents() != 1 {
		t.Fatalf("after freeing all: used %d runs %d", a.used, a.freeExtents())
	}
}

func TestAllocatorRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		ops := make([]byte, 600)
		for i := range ops {
			ops[i] = byte(r.UintN(256))
		}
		runAllocatorOps(t, ops)
	}
}

func FuzzAllocator(f *testing.F) {
	f.Add([]byte{1, 10, 1, 20, 0, 0, 1, 255, 0, 1})
	f.Add([]byte{1, 1, 1, 1, 1, 1, 3, 1, 3, 0, 3, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 4000 {
			ops = ops[:4000]
		}
		runAllocatorOps(t, ops)
	})
}

package duel

import (
	"math/rand/v2"
	"testing"
)

// TestIndexMatchesMap churns the index against a Go map.
func TestIndexMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := newIndex(4)
	m := map[uint64]int32{}
	for step := 0; step < 200000; step++ {
		k := r.Uint64N(3000) * 0x10000 // clustered keys collide in the low bits
		switch r.IntN(3) {
		case 0, 1:
			v := int32(r.IntN(1000) + 1)
			x.put(k, v)
			m[k] = v
		case 2:
			x.del(k)
			delete(m, k)
		}
		if step%1000 == 0 {
			if x.n != len(m) {
				t.Fatalf("step %d: %d entries, map %d", step, x.n, len(m))
			}
			for mk, mv := range m {
				if got := x.get(mk); got != mv {
					t.Fatalf("step %d: key %d = %d, want %d", step, mk, got, mv)
				}
			}
		}
	}
}

// TestGhostWindow keeps exactly the last size evictions, duplicates
// counted.
func TestGhostWindow(t *testing.T) {
	g := newGhost(3)
	for _, k := range []uint64{1, 2, 1, 3} {
		g.add(k)
	}
	// Window: 2, 1, 3 (the first 1 fell out, the second is still in).
	for k, want := range map[uint64]bool{1: true, 2: true, 3: true, 4: false} {
		if g.contains(k) != want {
			t.Fatalf("contains(%d) = %v", k, !want)
		}
	}
	g.add(4) // window 1, 3, 4
	if g.contains(2) || !g.contains(1) || !g.contains(4) || g.len() != 3 {
		t.Fatalf("after 4: 2 %v 1 %v 4 %v len %d", g.contains(2), g.contains(1), g.contains(4), g.len())
	}
}

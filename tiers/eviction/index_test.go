package eviction

import (
	"math/rand/v2"
	"testing"
)

// TestIndexAgainstMap drives index (the generic uint64 -> int32 table) and a
// Go map with the same random puts and deletes over a small key range, so
// clusters, wrap-around and backward shifts are exercised hard.
func TestIndexAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var x index
	ref := map[uint64]int32{}
	for step := 0; step < 200_000; step++ {
		k := uint64(r.IntN(300))
		if r.IntN(2) == 0 {
			k <<= 58 // keys that differ only in their top bits
		}
		switch r.IntN(3) {
		case 0:
			v := int32(r.IntN(1000))
			x.put(k, v)
			ref[k] = v
		case 1:
			_, had := ref[k]
			if got := x.del(k); got != had {
				t.Fatalf("step %d: del(%d) = %v, want %v", step, k, got, had)
			}
			delete(ref, k)
		default:
			want, ok := ref[k]
			if !ok {
				want = -1
			}
			if got := x.get(k); got != want {
				t.Fatalf("step %d: get(%d) = %d, want %d", step, k, got, want)
			}
		}
		if x.len() != len(ref) {
			t.Fatalf("step %d: len = %d, want %d", step, x.len(), len(ref))
		}
	}
}

// TestKeyIndexAgainstMap does the same for the node index used by tables.
func TestKeyIndexAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	tb := newTable(0, loadFast)
	ref := map[uint64]int32{}
	for step := 0; step < 200_000; step++ {
		k := uint64(r.IntN(500))
		if r.IntN(3) == 0 {
			k *= 1 << 40
		}
		i, ok := ref[k]
		switch r.IntN(3) {
		case 0:
			if !ok {
				ref[k] = tb.add(k)
			}
		case 1:
			if ok {
				tb.drop(i, 0)
				delete(ref, k)
			}
		}
		want := int32(-1)
		if i, ok := ref[k]; ok {
			want = i
		}
		tb.memoOK = false // test the index, not the memo
		if got := tb.get(k); got != want {
			t.Fatalf("step %d: get(%d) = %d, want %d", step, k, got, want)
		}
		if tb.idx.n != len(ref) {
			t.Fatalf("step %d: n = %d, want %d", step, tb.idx.n, len(ref))
		}
	}
	for k, i := range ref {
		tb.memoOK = false
		if tb.get(k) != i {
			t.Fatalf("key %d lost", k)
		}
	}
}

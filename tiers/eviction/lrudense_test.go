package eviction

import (
	"math/rand/v2"
	"testing"
)

// NewLRUDense decides exactly as NewLRU: the same seeded operations, keys
// below and above the dense range, pins and removes included, give the same
// victims, lengths and memberships.
func TestLRUDenseMatchesLRU(t *testing.T) {
	const keys = 500
	a, b := NewLRU(64), NewLRUDense(64, keys)
	r := rand.New(rand.NewPCG(5, 16))
	for step := range 200000 {
		k := uint64(r.IntN(keys + keys/4)) // a fifth above the dense range
		switch op := r.IntN(10); {
		case op < 4:
			a.Insert(k)
			b.Insert(k)
		case op < 7:
			a.Touch(k)
			b.Touch(k)
		case op == 7:
			a.Remove(k)
			b.Remove(k)
		case op == 8:
			if r.IntN(2) == 0 {
				a.Pin(k)
				b.Pin(k)
			} else {
				a.Unpin(k)
				b.Unpin(k)
			}
		default:
			va, oka := a.Evict()
			vb, okb := b.Evict()
			if va != vb || oka != okb {
				t.Fatalf("step %d: evict %d %v, dense %d %v", step, va, oka, vb, okb)
			}
		}
		if a.Len() != b.Len() || a.Contains(k) != b.Contains(k) {
			t.Fatalf("step %d: len %d/%d, contains %d %v/%v", step, a.Len(), b.Len(), k, a.Contains(k), b.Contains(k))
		}
	}
}

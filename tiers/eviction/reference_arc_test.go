package eviction

import (
	"container/list"
	"math/rand/v2"
	"testing"
)

// refARC is ARC exactly as the FAST'03 paper's pseudo-code states it: one
// Request(x) per access that runs REPLACE itself. It has no pins and no
// Remove; it checks that the decoupled ARC, driven in the simulator's order
// (Insert, then Evict while Len > c), evicts the same keys.
type refARC struct {
	c     int
	p     int
	lists [4]*list.List // T1, T2, B1, B2; front = MRU
	where map[uint64]int
	elem  map[uint64]*list.Element
}

func newRefARC(c int) *refARC {
	r := &refARC{c: c, where: map[uint64]int{}, elem: map[uint64]*list.Element{}}
	for i := range r.lists {
		r.lists[i] = list.New()
	}
	return r
}

func (r *refARC) size(q int) int { return r.lists[q].Len() }

func (r *refARC) moveMRU(x uint64, q int) {
	if e, ok := r.elem[x]; ok {
		r.lists[r.where[x]].Remove(e)
	}
	r.elem[x] = r.lists[q].PushFront(x)
	r.where[x] = q
}

func (r *refARC) deleteLRU(q int) uint64 {
	e := r.lists[q].Back()
	x := e.Value.(uint64)
	r.lists[q].Remove(e)
	delete(r.elem, x)
	delete(r.where, x)
	return x
}

// replace moves the LRU of T1 or T2 to its ghost list and returns it.
func (r *refARC) replace(xInB2 bool) uint64 {
	t1 := r.size(arcT1)
	if t1 >= 1 && ((xInB2 && t1 == r.p) || t1 > r.p) {
		x := r.lists[arcT1].Back().Value.(uint64)
		r.moveMRU(x, arcB1)
		return x
	}
	x := r.lists[arcT2].Back().Value.(uint64)
	r.moveMRU(x, arcB2)
	return x
}

// Request serves one access; it returns the key evicted from the cache.
func (r *refARC) Request(x uint64) (uint64, bool) {
	q, seen := r.where[x]
	switch {
	case seen && (q == arcT1 || q == arcT2): // case I
		r.moveMRU(x, arcT2)
		return 0, false
	case seen && q == arcB1: // case II
		d := 1
		if r.size(arcB1) < r.size(arcB2) {
			d = r.size(arcB2) / r.size(arcB1)
		}
		r.p = min(r.p+d, r.c)
		v := r.replace(false)
		r.moveMRU(x, arcT2)
		return v, true
	case seen && q == arcB2: // case III
		d := 1
		if r.size(arcB2) < r.size(arcB1) {
			d = r.size(arcB1) / r.size(arcB2)
		}
		r.p = max(r.p-d, 0)
		v := r.replace(true)
		r.moveMRU(x, arcT2)
		return v, true
	}
	// case IV
	var v uint64
	evicted := false
	l1 := r.size(arcT1) + r.size(arcB1)
	total := l1 + r.size(arcT2) + r.size(arcB2)
	if l1 == r.c {
		if r.size(arcT1) < r.c {
			r.deleteLRU(arcB1)
			v, evicted = r.replace(false), true
		} else {
			v, evicted = r.deleteLRU(arcT1), true
		}
	} else if l1 < r.c && total >= r.c {
		if total == 2*r.c {
			r.deleteLRU(arcB2)
		}
		v, evicted = r.replace(false), true
	}
	r.moveMRU(x, arcT1)
	return v, evicted
}

func TestARCMatchesPaper(t *testing.T) {
	for _, c := range []int{1, 2, 5, 50} {
		for seed := uint64(1); seed <= 3; seed++ {
			got, want := NewARC(c), newRefARC(c)
			r := rand.New(rand.NewPCG(seed, uint64(c)))
			z := rand.NewZipf(r, 1.1, 4, uint64(c*8))
			for step := 0; step < 50_000; step++ {
				x := z.Uint64()
				wk, wok := want.Request(x)
				var gk uint64
				gok := false
				if got.Contains(x) {
					got.Touch(x)
				} else {
					got.Insert(x)
					for got.Len() > c {
						k, ok := got.Evict()
						if gok || !ok {
							t.Fatalf("c=%d step %d: more than one eviction or none", c, step)
						}
						gk, gok = k, true
					}
				}
				if gk != wk || gok != wok {
					t.Fatalf("c=%d seed %d step %d: access %d evicted (%d, %v), paper (%d, %v)",
						c, seed, step, x, gk, gok, wk, wok)
				}
				if got.Target() != want.p || got.Ghosts() != want.size(arcB1)+want.size(arcB2) {
					t.Fatalf("c=%d step %d: p=%d ghosts=%d, paper p=%d ghosts=%d", c, step,
						got.Target(), got.Ghosts(), want.p, want.size(arcB1)+want.size(arcB2))
				}
			}
		}
	}
}

package eviction

import (
	"math/rand/v2"
	"testing"
)

// runDifferential drives got and want with the same seeded random operations
// and fails at the first divergence of Contains, Evict or Len.
func runDifferential(t *testing.T, got, want Policy, seed uint64, ops, keys int) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 0xD1FF))
	for step := 0; step < ops; step++ {
		k := uint64(r.IntN(keys)) // includes key 0
		switch op := r.IntN(100); {
		case op < 30:
			got.Insert(k)
			want.Insert(k)
		case op < 55:
			got.Touch(k)
			want.Touch(k)
		case op < 65:
			if g, w := got.Contains(k), want.Contains(k); g != w {
				t.Fatalf("step %d: Contains(%d) = %v, reference %v", step, k, g, w)
			}
		case op < 70:
			got.Remove(k)
			want.Remove(k)
		case op < 90:
			gk, gok := got.Evict()
			wk, wok := want.Evict()
			if gk != wk || gok != wok {
				t.Fatalf("step %d: Evict = (%d, %v), reference (%d, %v)", step, gk, gok, wk, wok)
			}
		case op < 95:
			got.Pin(k)
			want.Pin(k)
		default:
			got.Unpin(k)
			want.Unpin(k)
		}
		if got.Len() != want.Len() {
			t.Fatalf("step %d: Len = %d, reference %d", step, got.Len(), want.Len())
		}
	}
}

// runDifferentialCache drives both like the simulator: a skewed key stream,
// Touch on a hit, Insert then Evict while over capacity on a miss.
func runDifferentialCache(t *testing.T, got, want Policy, seed uint64, ops, keys, capacity int) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 0xCAC4E))
	z := rand.NewZipf(r, 1.2, 1, uint64(keys-1))
	for step := 0; step < ops; step++ {
		k := z.Uint64()
		g, w := got.Contains(k), want.Contains(k)
		if g != w {
			t.Fatalf("step %d: Contains(%d) = %v, reference %v", step, k, g, w)
		}
		if g {
			got.Touch(k)
			want.Touch(k)
			continue
		}
		got.Insert(k)
		want.Insert(k)
		for got.Len() > capacity {
			gk, gok := got.Evict()
			wk, wok := want.Evict()
			if gk != wk || gok != wok {
				t.Fatalf("step %d: Evict = (%d, %v), reference (%d, %v)", step, gk, gok, wk, wok)
			}
		}
	}
}

const differentialOps = 100_000

func TestDifferential(t *testing.T) {
	cases := []struct {
		name string
		got  func() Policy
		want func() Policy
	}{
		{"lru", func() Policy { return NewLRU(0) }, func() Policy { return newRefLRU(false) }},
		{"fifo", func() Policy { return NewFIFO(0) }, func() Policy { return newRefLRU(true) }},
		{"sieve", func() Policy { return NewSIEVE(0) }, func() Policy { return newRefSIEVE() }},
		{"s3fifo-cap20", func() Policy { return NewS3FIFO(20) }, func() Policy { return newRefS3FIFO(20) }},
		{"s3fifo-cap0", func() Policy { return NewS3FIFO(0) }, func() Policy { return newRefS3FIFO(0) }},
	}
	for _, c := range cases {
		t.Run(c.name+"/random-ops", func(t *testing.T) {
			runDifferential(t, c.got(), c.want(), 1, differentialOps, 64)
		})
		t.Run(c.name+"/random-ops-wide", func(t *testing.T) {
			runDifferential(t, c.got(), c.want(), 2, differentialOps, 4096)
		})
		t.Run(c.name+"/cache", func(t *testing.T) {
			runDifferentialCache(t, c.got(), c.want(), 3, differentialOps, 2000, 100)
		})
	}
}

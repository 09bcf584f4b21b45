package eviction

import "testing"

// Brute-force references for LFU and the prefix policy: every key carries
// its counters and Evict scans all keys for the minimum. Obviously right,
// O(n) per eviction.

type bruteEntry struct {
	freq   uint64
	tick   uint64
	pins   int
	parent uint64
}

type brute struct {
	name   string
	m      map[uint64]*bruteEntry
	staged map[uint64]uint64
	clock  uint64
}

func newBrute(name string) *brute {
	return &brute{name: name, m: map[uint64]*bruteEntry{}, staged: map[uint64]uint64{}}
}

func (b *brute) Name() string { return b.name }
func (b *brute) Insert(k uint64) {
	if _, ok := b.m[k]; ok {
		b.Touch(k)
		return
	}
	b.clock++
	b.m[k] = &bruteEntry{freq: 1, tick: b.clock, parent: b.staged[k]}
	delete(b.staged, k)
}
func (b *brute) Touch(k uint64) {
	if e, ok := b.m[k]; ok {
		b.clock++
		e.freq++
		e.tick = b.clock
	}
}
func (b *brute) Contains(k uint64) bool { _, ok := b.m[k]; return ok }
func (b *brute) Remove(k uint64) {
	delete(b.m, k)
	delete(b.staged, k)
}
func (b *brute) Pin(k uint64) {
	if e, ok := b.m[k]; ok {
		e.pins++
	}
}
func (b *brute) Unpin(k uint64) {
	if e, ok := b.m[k]; ok && e.pins > 0 {
		e.pins--
	}
}
func (b *brute) Len() int { return len(b.m) }
func (b *brute) SetParent(k, parent uint64) {
	if parent == k {
		parent = 0
	}
	if e, ok := b.m[k]; ok {
		e.parent = parent
		return
	}
	b.staged[k] = parent
}

func (b *brute) hasChildren(k uint64) bool {
	for _, e := range b.m {
		if e.parent == k && e.parent != 0 {
			return true
		}
	}
	return false
}

func (b *brute) Evict() (uint64, bool) {
	best, found := uint64(0), false
	better := func(k uint64) bool {
		if !found {
			return true
		}
		e, o := b.m[k], b.m[best]
		if b.name == "lfu" && e.freq != o.freq {
			return e.freq < o.freq
		}
		return e.tick < o.tick
	}
	for _, leavesOnly := range []bool{true, false} {
		if b.name == "lfu" && !leavesOnly {
			break
		}
		for k, e := range b.m {
			if e.pins > 0 {
				continue
			}
			if b.name == "prefix" && leavesOnly == b.hasChildren(k) {
				continue
			}
			if better(k) {
				best, found = k, true
			}
		}
		if found {
			break
		}
	}
	if found {
		delete(b.m, best)
	}
	return best, found
}

func TestDifferentialBrute(t *testing.T) {
	t.Run("lfu/random-ops", func(t *testing.T) {
		runDifferential(t, NewLFU(0), newBrute("lfu"), 7, differentialOps/5, 64)
	})
	t.Run("lfu/cache", func(t *testing.T) {
		runDifferentialCache(t, NewLFU(0), newBrute("lfu"), 8, differentialOps/5, 500, 50)
	})
	for seed := uint64(9); seed < 14; seed++ {
		t.Run("prefix/random-ops", func(t *testing.T) {
			runDifferentialPrefix(t, NewPrefix(0), newBrute("prefix"), seed, differentialOps/5, 64)
		})
	}
}

// runDifferentialPrefix is runDifferential with SetParent calls mixed in:
// parents are mostly smaller keys, so the keys form a forest, with the odd
// cycle and self-parent thrown in.
func runDifferentialPrefix(t *testing.T, got *Prefix, want *brute, seed uint64, ops, keys int) {
	t.Helper()
	var s = seed
	rnd := func(n int) int {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		return int(s % uint64(n))
	}
	for step := 0; step < ops; step++ {
		k := uint64(rnd(keys))
		switch op := rnd(100); {
		case op < 20:
			parent := uint64(0)
			if k > 0 && rnd(10) > 0 {
				parent = uint64(rnd(int(k) + 1)) // may be k itself: a root
			} else if rnd(4) == 0 {
				parent = uint64(rnd(keys)) // anything, cycles included
			}
			got.SetParent(k, parent)
			want.SetParent(k, parent)
		case op < 40:
			got.Insert(k)
			want.Insert(k)
		case op < 55:
			got.Touch(k)
			want.Touch(k)
		case op < 60:
			if g, w := got.Contains(k), want.Contains(k); g != w {
				t.Fatalf("step %d: Contains(%d) = %v, reference %v", step, k, g, w)
			}
		case op < 65:
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
		for c := uint64(0); c < 3; c++ { // spot-check child counts
			n := 0
			if want.Contains(c) {
				for _, e := range want.m {
					if e.parent == c && c != 0 {
						n++
					}
				}
			}
			if got.Children(c) != n {
				t.Fatalf("step %d: Children(%d) = %d, reference %d", step, c, got.Children(c), n)
			}
		}
	}
}

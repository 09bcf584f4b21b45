package memory

import (
	"slices"

	"github.com/google/btree"
)

// extent is a run of arena bytes [off, off+size).
type extent struct {
	off, size int64
}

// lessBySize orders free extents for best fit: smallest size first, lowest
// offset among equals (address-ordered ties keep the arena's low end dense).
func lessBySize(a, b extent) bool {
	if a.size != b.size {
		return a.size < b.size
	}
	return a.off < b.off
}

// allocator hands out aligned extents of a fixed address range. Free extents
// are indexed three ways: by (size, offset) in a B-tree for best fit, and by
// start and by end in maps so that a freed extent merges with both neighbours
// in O(1). Every operation is O(log n) in the number of free extents.
//
// allocator is not safe for concurrent use: the tier serialises it.
type allocator struct {
	align    int64
	capacity int64 // multiple of align
	used     int64
	bySize   *btree.BTreeG[extent]
	byStart  map[int64]int64 // off -> size
	byEnd    map[int64]int64 // off+size -> off
}

// newAllocator manages [0, capacity) rounded down to align; align must be a
// power of two (Config.Validate checks).
func newAllocator(capacity, align int64) *allocator {
	a := &allocator{
		align:    align,
		capacity: capacity &^ (align - 1),
		bySize:   btree.NewG[extent](32, lessBySize),
		byStart:  make(map[int64]int64),
		byEnd:    make(map[int64]int64),
	}
	if a.capacity > 0 {
		a.insertFree(extent{0, a.capacity})
	}
	return a
}

// roundUp returns n rounded up to the alignment (0 stays 0).
func (a *allocator) roundUp(n int64) int64 {
	return (n + a.align - 1) &^ (a.align - 1)
}

// alloc reserves an extent of at least n bytes (rounded up to the alignment)
// with best fit. ok is false when no free extent is large enough; n must be
// positive.
func (a *allocator) alloc(n int64) (extent, bool) {
	size := a.roundUp(n)
	if n <= 0 || size > a.capacity-a.used {
		return extent{}, false
	}
	var found extent
	var ok bool
	a.bySize.AscendGreaterOrEqual(extent{size: size}, func(e extent) bool {
		found, ok = e, true
		return false
	})
	if !ok {
		return extent{}, false
	}
	a.removeFree(found)
	if found.size > size {
		a.insertFree(extent{found.off + size, found.size - size})
	}
	a.used += size
	return extent{found.off, size}, true
}

// free returns an extent obtained from alloc, merging it with free
// neighbours.
func (a *allocator) free(e extent) {
	a.used -= e.size
	if prevOff, ok := a.byEnd[e.off]; ok {
		prev := extent{prevOff, a.byStart[prevOff]}
		a.removeFree(prev)
		e = extent{prev.off, prev.size + e.size}
	}
	if nextSize, ok := a.byStart[e.off+e.size]; ok {
		next := extent{e.off + e.size, nextSize}
		a.removeFree(next)
		e.size += next.size
	}
	a.insertFree(e)
}

func (a *allocator) insertFree(e extent) {
	a.bySize.ReplaceOrInsert(e)
	a.byStart[e.off] = e.size
	a.byEnd[e.off+e.size] = e.off
}

func (a *allocator) removeFree(e extent) {
	a.bySize.Delete(e)
	delete(a.byStart, e.off)
	delete(a.byEnd, e.off+e.size)
}

// freeExtents is the number of free runs (1 when nothing is fragmented).
func (a *allocator) freeExtents() int { return a.bySize.Len() }

// largestFree is the size of the largest free run.
func (a *allocator) largestFree() int64 {
	if m, ok := a.bySize.Max(); ok {
		return m.size
	}
	return 0
}

// walkFree calls f for every free extent in address order (tests and
// diagnostics; O(n log n)).
func (a *allocator) walkFree(f func(extent)) {
	offs := make([]extent, 0, len(a.byStart))
	a.bySize.Ascend(func(e extent) bool { offs = append(offs, e); return true })
	slices.SortFunc(offs, func(x, y extent) int {
		switch {
		case x.off < y.off:
			return -1
		case x.off > y.off:
			return 1
		}
		return 0
	})
	for _, e := range offs {
		f(e)
	}
}

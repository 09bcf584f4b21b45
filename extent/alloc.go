package extent

import (
	"fmt"
	"math/bits"
	"sort"
)

// Range is an allocated or free extent of the data area.
type Range struct {
	Off, Len uint64
}

// Allocator hands out block-aligned ranges of [base, base+size). Free ranges
// are coalesced with their neighbours at once, so fragmentation is bounded
// by the live extents themselves; allocation is segregated fit (free ranges
// binned by power-of-two size, searched from the request's bin up), O(1)
// apart from a short scan of the request's own bin. Not safe for concurrent
// use: the owning tier serialises calls.
type Allocator struct {
	base, size, align uint64
	byStart           map[uint64]uint64 // start -> length of a free range
	byEnd             map[uint64]uint64 // end -> start of a free range
	pos               map[uint64]int    // start -> index in its bin
	bins              [64][]uint64      // starts of free ranges by floor(log2(len))
	free              uint64
}

// binScan bounds the search of the request's own bin before a larger bin
// (whose every range fits) is used.
const binScan = 16

// NewAllocator returns an allocator whose whole range is free. size must be
// a multiple of align, and align a power of two.
func NewAllocator(base, size, align uint64) *Allocator {
	a := &Allocator{
		base: base, size: size, align: align,
		byStart: make(map[uint64]uint64),
		byEnd:   make(map[uint64]uint64),
		pos:     make(map[uint64]int),
	}
	if size > 0 {
		a.insert(base, size)
	}
	return a
}

// Rebuild resets the allocator to hold exactly the given ranges as used;
// everything else is free. Ranges must be aligned, inside the area and not
// overlap (the caller resolves overlaps first).
func (a *Allocator) Rebuild(used []Range) error {
	sorted := append([]Range(nil), used...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Off < sorted[j].Off })
	clear(a.byStart)
	clear(a.byEnd)
	clear(a.pos)
	for i := range a.bins {
		a.bins[i] = a.bins[i][:0]
	}
	a.free = 0
	cur := a.base
	end := a.base + a.size
	for _, r := range sorted {
		if r.Off < cur || r.Len == 0 || r.Off+r.Len > end || r.Off%a.align != 0 || r.Len%a.align != 0 {
			return fmt.Errorf("%w: used range %+v overlaps or leaves the area", ErrBadRecord, r)
		}
		if r.Off > cur {
			a.insert(cur, r.Off-cur)
		}
		cur = r.Off + r.Len
	}
	if cur < end {
		a.insert(cur, end-cur)
	}
	return nil
}

// Alloc returns the offset of n bytes (rounded up to the alignment); ok is
// false when no free range is large enough.
func (a *Allocator) Alloc(n uint64) (off uint64, ok bool) {
	n = a.Round(n)
	if n == 0 || n > a.free {
		return 0, false
	}
	k := bits.Len64(n) - 1
	bin := a.bins[k]
	for i, scanned := len(bin)-1, 0; i >= 0 && scanned < binScan; i, scanned = i-1, scanned+1 {
		if s := bin[i]; a.byStart[s] >= n {
			return a.take(s, n), true
		}
	}
	for j := k + 1; j < len(a.bins); j++ {
		if b := a.bins[j]; len(b) > 0 {
			return a.take(b[len(b)-1], n), true
		}
	}
	return 0, false
}

// Free returns [off, off+n) (n rounded as by Alloc) to the free set,
// merging it with free neighbours.
func (a *Allocator) Free(off, n uint64) {
	n = a.Round(n)
	if prevStart, ok := a.byEnd[off]; ok {
		prevLen := a.byStart[prevStart]
		a.remove(prevStart)
		off, n = prevStart, n+prevLen
	}
	if nextLen, ok := a.byStart[off+n]; ok {
		a.remove(off + n)
		n += nextLen
	}
	a.insert(off, n)
}

// Round rounds n up to the allocation unit.
func (a *Allocator) Round(n uint64) uint64 { return (n + a.align - 1) / a.align * a.align }

// FreeBytes is the total of the free ranges.
func (a *Allocator) FreeBytes() uint64 { return a.free }

// FreeRanges is the number of free ranges (a fragmentation measure).
func (a *Allocator) FreeRanges() int { return len(a.byStart) }

// Size is the bytes the allocator manages.
func (a *Allocator) Size() uint64 { return a.size }

func (a *Allocator) take(start, n uint64) uint64 {
	l := a.byStart[start]
	a.remove(start)
	if l > n {
		a.insert(start+n, l-n)
	}
	return start
}

func (a *Allocator) insert(start, n uint64) {
	a.byStart[start] = n
	a.byEnd[start+n] = start
	k := bits.Len64(n) - 1
	a.pos[start] = len(a.bins[k])
	a.bins[k] = append(a.bins[k], start)
	a.free += n
}

func (a *Allocator) remove(start uint64) {
	n := a.byStart[start]
	delete(a.byStart, start)
	delete(a.byEnd, start+n)
	k := bits.Len64(n) - 1
	i := a.pos[start]
	delete(a.pos, start)
	bin := a.bins[k]
	last := len(bin) - 1
	if i != last {
		bin[i] = bin[last]
		a.pos[bin[i]] = i
	}
	a.bins[k] = bin[:last]
	a.free -= n
}

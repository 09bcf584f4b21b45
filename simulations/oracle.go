package simulations

import (
	"math"

	"github.com/stratacache/stratacache/simulations/trace"
)

// never is the next use of a block that is not requested again.
const never = math.MaxUint32

// Oracle holds a trace's future: for every access, the index of the next
// access to the same block, with accesses numbered request by request, root
// block first (their index in the trace's Blocks array). Two blocks next
// used by the same request thus rank the deeper one as farther, the order
// the reference figures use (numbering by touch order, deepest-first, gives
// 0.1697 instead of 0.1792 at 1,000 blocks on the conversation trace). Build
// it once per trace and share it between MIN runs of different capacities.
type Oracle struct {
	tr *trace.Trace
	// next[pos] for the access at Blocks[pos].
	next []uint32
	tree bool
}

// NewOracle computes the next-use array of tr in one backward pass.
func NewOracle(tr *trace.Trace) *Oracle {
	next := make([]uint32, len(tr.Blocks))
	last := make([]uint32, tr.NumBlocks()+1)
	for i := range last {
		last[i] = never
	}
	for pos := len(tr.Blocks) - 1; pos >= 0; pos-- {
		b := tr.Blocks[pos]
		next[pos] = last[b]
		last[b] = uint32(pos)
	}
	return &Oracle{tr: tr, next: next, tree: tr.IsTree()}
}

// MIN is Belady's optimal replacement for the reference semantics: the
// victim is the cached block whose next use is farthest (never used again
// counts as infinitely far), the deeper block first on ties.
//
// Structure: a membership bitset and a max-heap of (next use, depth, block)
// entries with lazy deletion. Each access pushes the block's new entry; the
// entry it replaces held that very access as its next use, which is now
// past, so it sinks below every live entry and is dropped when the heap is
// compacted (once it holds twice the cached blocks). No per-block index is
// kept: memory follows the cached blocks, not the trace's distinct blocks.
//
// On a trace that is not a prefix tree (Trace.IsTree is false: a block
// under different parents, or twice in one request) the argument that lets
// victims be taken up front from the top of the heap does not hold, so
// requests take a general path: each distinct block of the request's first
// capacity blocks is pinned, a cached block seen only past the capacity is
// an ordinary candidate keyed by its next use after the request, and every
// block keeps exactly one live heap entry.
type MIN struct {
	o        *Oracle
	depth    []uint32
	capacity int
	in       bitset
	n        int
	heap     []entry
	onEvict  func(uint32)
	tree     bool
	mark     bitset // general path: the request's pinned blocks
}

// entry is a block and its key: next use << depthBits | depth.
type entry struct {
	key uint64
	id  uint32
}

const depthBits = 24

// NewMIN builds an empty MIN cache of capacity blocks over o's trace.
func NewMIN(capacity int, o *Oracle) *MIN {
	m := &MIN{
		o:        o,
		depth:    o.tr.Depth,
		capacity: capacity,
		in:       newBitset(o.tr.NumBlocks() + 1),
		heap:     make([]entry, 0, 2*min(capacity, o.tr.NumBlocks())+64),
		tree:     o.tree,
	}
	if !m.tree {
		m.mark = newBitset(o.tr.NumBlocks() + 1)
	}
	return m
}

// Name is "min".
func (m *MIN) Name() string { return PolicyMIN }

// Len is the number of cached blocks.
func (m *MIN) Len() int { return m.n }

// SetEvictFunc installs a hook called for every victim.
func (m *MIN) SetEvictFunc(f func(uint32)) { m.onEvict = f }

func (m *MIN) key(b uint32, pos int) uint64 {
	return uint64(m.o.next[pos])<<depthBits | uint64(m.depth[b]&(1<<depthBits-1))
}

// Access applies one request; see Cache. pos is the request's offset in
// the trace's Blocks array.
func (m *MIN) Access(blocks []uint32, pos int) int {
	in := m.in
	hit := 0
	for hit < len(blocks) && in.has(blocks[hit]) {
		hit++
	}
	req := blocks
	if len(req) > m.capacity {
		req = req[:m.capacity]
	}
	if !m.tree {
		m.accessGeneral(blocks, req, pos)
		return hit
	}
	missing := 0
	for _, b := range req[hit:] {
		if !in.has(b) {
			missing++
		}
	}
	// Every cached block of this request has its next use inside the
	// request, nearer than any other block's, so the top of the heap is
	// never one of them while enough other blocks are cached (and they
	// are: len(req) <= capacity). Victims chosen up front are the ones a
	// pinned, block-by-block run would choose: the other blocks' keys do
	// not change during the request.
	end := uint64(pos + len(blocks))
	for e := m.n + missing - m.capacity; e > 0; e-- {
		if !m.evictTop(uint64(pos), end) {
			break
		}
	}
	// Blocks past the capacity are not cached by this request, and in a
	// tree they cannot be cached at all (their depth exceeds the capacity).
	for i := len(req) - 1; i >= 0; i-- {
		b := req[i]
		m.push(entry{key: m.key(b, pos+i), id: b})
		if !in.has(b) {
			in.set(b)
			m.n++
		}
	}
	if len(m.heap) >= 2*max(m.n, 512) {
		m.compact(end)
	}
	return hit
}

// accessGeneral applies a request of a trace that is not a tree. A block's
// live entry is keyed by its first access at or after the end of the
// request that last applied it; an entry keyed inside the current request
// belongs to a block the request accesses, so it is replaced here: blocks
// of req get fresh entries after the evictions (they are pinned), cached
// blocks seen only past the capacity get theirs before (they are
// candidates).
func (m *MIN) accessGeneral(blocks, req []uint32, pos int) {
	in, mark := m.in, m.mark
	end := uint64(pos + len(blocks))
	missing := 0
	for _, b := range req {
		if !mark.has(b) {
			mark.set(b)
			if !in.has(b) {
				missing++
			}
		}
	}
	// next is the first access of the block at blocks[i] at or after end.
	next := func(i int) uint64 {
		nu := uint64(pos + i)
		for nu != never && nu < end {
			nu = uint64(m.o.next[nu])
		}
		return nu
	}
	key := func(b uint32, nu uint64) uint64 {
		return nu<<depthBits | uint64(m.depth[b]&(1<<depthBits-1))
	}
	// Re-key cached blocks seen only past the capacity, once each (their
	// last occurrence in the request; mark keeps the once).
	for i := len(blocks) - 1; i >= len(req); i-- {
		if b := blocks[i]; in.has(b) && !mark.has(b) {
			mark.set(b)
			m.push(entry{key: key(b, next(i)), id: b})
		}
	}
	for e := m.n + missing - m.capacity; e > 0; e-- {
		if !m.evictGeneral(end) {
			break
		}
	}
	for i := len(req) - 1; i >= 0; i-- {
		b := req[i]
		if !mark.has(b) {
			continue // applied at a deeper occurrence
		}
		mark.clear(b)
		m.push(entry{key: key(b, next(i)), id: b})
		if !in.has(b) {
			in.set(b)
			m.n++
		}
	}
	for _, b := range blocks[len(req):] {
		mark.clear(b)
	}
	if len(m.heap) >= 2*max(m.n, 512) {
		m.compact(end)
	}
}

// evictGeneral removes the cached block with the farthest next use; every
// entry keyed before end is stale or belongs to a block of the request.
func (m *MIN) evictGeneral(end uint64) bool {
	for len(m.heap) > 0 {
		top := m.heap[0]
		m.pop()
		if nu := top.key >> depthBits; nu != never && nu < end {
			continue
		}
		if !m.in.has(top.id) {
			continue // cannot happen: one live entry per cached block
		}
		m.in.clear(top.id)
		m.n--
		if m.onEvict != nil {
			m.onEvict(top.id)
		}
		return true
	}
	return false
}

// evictTop removes the cached block with the farthest next use. Entries
// whose next use is before start are stale and dropped; one inside the
// request [start, end) would be a pinned block, which the argument in
// Access rules out, so evictTop gives up rather than evict it.
func (m *MIN) evictTop(start, end uint64) bool {
	for len(m.heap) > 0 {
		top := m.heap[0]
		nu := top.key >> depthBits
		if nu < end && nu != never {
			if nu >= start {
				return false
			}
			m.pop()
			continue
		}
		m.pop()
		m.in.clear(top.id)
		m.n--
		if m.onEvict != nil {
			m.onEvict(top.id)
		}
		return true
	}
	return false
}

// compact drops the stale entries (next use before end) and rebuilds the
// heap.
func (m *MIN) compact(end uint64) {
	h := m.heap[:0]
	for _, e := range m.heap {
		if nu := e.key >> depthBits; nu >= end || nu == never {
			h = append(h, e)
		}
	}
	m.heap = h
	for i := len(h)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
}

func (m *MIN) push(e entry) {
	m.heap = append(m.heap, e)
	h := m.heap
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].key >= e.key {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
}

func (m *MIN) pop() {
	h := m.heap
	last := len(h) - 1
	h[0] = h[last]
	m.heap = h[:last]
	if last > 0 {
		m.down(0)
	}
}

func (m *MIN) down(i int) {
	h := m.heap
	n := len(h)
	e := h[i]
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h[c+1].key > h[c].key {
			c++
		}
		if h[c].key <= e.key {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = e
}

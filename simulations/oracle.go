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
	return &Oracle{tr: tr, next: next}
}

// MIN is Belady's optimal replacement for the reference semantics: the
// victim is the cached block whose next use is farthest (never used again
// counts as infinitely far), the deeper block first on ties. It keeps an
// indexed binary max-heap keyed by (next use, depth).
type MIN struct {
	o        *Oracle
	depth    []uint32
	capacity int
	slot     []int32 // per block: heap index, -1 when not cached
	heap     []entry
	onEvict  func(uint32)
}

// entry is a cached block and its key: next use << depthBits | depth.
type entry struct {
	key uint64
	id  uint32
}

const depthBits = 24

// NewMIN builds an empty MIN cache of capacity blocks over o's trace.
func NewMIN(capacity int, o *Oracle) *MIN {
	nb := o.tr.NumBlocks() + 1
	m := &MIN{
		o:        o,
		depth:    o.tr.Depth,
		capacity: capacity,
		slot:     make([]int32, nb),
		heap:     make([]entry, 0, min(capacity, nb)),
	}
	for i := range m.slot {
		m.slot[i] = -1
	}
	return m
}

// Name is "min".
func (m *MIN) Name() string { return PolicyMIN }

// Len is the number of cached blocks.
func (m *MIN) Len() int { return len(m.heap) }

// SetEvictFunc installs a hook called for every victim.
func (m *MIN) SetEvictFunc(f func(uint32)) { m.onEvict = f }

// Access applies one request; see Cache. pos is the request's offset in
// the trace's Blocks array.
func (m *MIN) Access(blocks []uint32, pos int) int {
	slot := m.slot
	hit := 0
	for hit < len(blocks) && slot[blocks[hit]] >= 0 {
		hit++
	}
	req := blocks
	if len(req) > m.capacity {
		req = req[:m.capacity]
	}
	missing := 0
	for _, b := range req[hit:] {
		if slot[b] < 0 {
			missing++
		}
	}
	// Every cached block of this request has its next use inside the
	// request, nearer than any other block's, so the top of the heap is
	// never one of them while enough other blocks are cached (and they
	// are: len(req) <= capacity). Victims chosen up front are the ones a
	// pinned, block-by-block run would choose: the other blocks' keys do
	// not change during the request.
	for e := len(m.heap) + missing - m.capacity; e > 0; e-- {
		m.evictTop()
	}
	next := m.o.next
	// Blocks past the capacity are not cached by this request; in a tree
	// they cannot be cached at all (their depth exceeds the capacity), but
	// a trace whose ids change parents can hold one: move its key past
	// this access so that it does not look needed forever.
	for i := len(blocks) - 1; i >= len(req); i-- {
		if s := slot[blocks[i]]; s >= 0 {
			m.heap[s].key = uint64(next[pos+i])<<depthBits | uint64(m.depth[blocks[i]]&(1<<depthBits-1))
			m.up(int(s))
		}
	}
	for i := len(req) - 1; i >= 0; i-- {
		b := req[i]
		k := uint64(next[pos+i])<<depthBits | uint64(m.depth[b]&(1<<depthBits-1))
		if s := slot[b]; s >= 0 {
			// The next use only moves later: the key grows.
			m.heap[s].key = k
			m.up(int(s))
			continue
		}
		slot[b] = int32(len(m.heap))
		m.heap = append(m.heap, entry{key: k, id: b})
		m.up(len(m.heap) - 1)
	}
	return hit
}

func (m *MIN) evictTop() {
	h := m.heap
	v := h[0].id
	last := len(h) - 1
	h[0] = h[last]
	m.slot[h[0].id] = 0
	m.heap = h[:last]
	m.slot[v] = -1
	if last > 0 {
		m.down(0)
	}
	if m.onEvict != nil {
		m.onEvict(v)
	}
}

func (m *MIN) up(i int) {
	h, slot := m.heap, m.slot
	e := h[i]
	for i > 0 {
		p := (i - 1) / 2
		if h[p].key >= e.key {
			break
		}
		h[i] = h[p]
		slot[h[i].id] = int32(i)
		i = p
	}
	h[i] = e
	slot[e.id] = int32(i)
}

func (m *MIN) down(i int) {
	h, slot := m.heap, m.slot
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
		slot[h[i].id] = int32(i)
		i = c
	}
	h[i] = e
	slot[e.id] = int32(i)
}

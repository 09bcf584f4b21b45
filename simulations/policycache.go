package simulations

import (
	"github.com/stratacache/stratacache/simulations/trace"
	"github.com/stratacache/stratacache/tiers/eviction"
)

// PolicyCache drives a real eviction.Policy with the reference semantics.
// It mirrors membership in a dense bitmap (the simulator is the only one
// inserting and evicting), so the hit test costs no policy call.
//
// A request longer than the capacity caches only its first capacity blocks
// (the prefix is what later requests can hit); its deeper blocks count as
// misses and are not inserted.
//
// Order of calls on a miss: room is made first (Evict until the cache has
// a free slot), then the block is inserted, as a tier with a byte budget
// does and as the papers of SIEVE, S3-FIFO and the LRU family state it.
// ARC is the exception: its REPLACE depends on the missed key (a ghost hit
// adapts the target p before the victim is chosen), so it is driven
// insert-first (Insert, Pin, then Evict while over capacity), the order in
// which tiers/eviction.ARC follows the FAST'03 paper exactly.
type PolicyCache struct {
	p        eviction.Policy
	pa       eviction.ParentAware
	in       bitset
	n        int
	capacity int
	onEvict  func(uint32)
	// upfront: the policy's choice among keys a request does not touch is
	// independent of the request's own inserts and touches (LRU, FIFO), so
	// a request's victims can be taken before its blocks are applied,
	// with pins on its cached blocks only. Same victims, fewer calls.
	upfront bool
	// insertFirst: the policy chooses its victim knowing the missed key
	// (ARC).
	insertFirst bool
	// lru is p when it is the production LRU: its request path is called
	// directly (no interface dispatch) and protects the request's cached
	// blocks by touching them instead of pinning them (see accessLRU).
	lru *eviction.LRU
	// tree: the trace is a prefix tree (no block twice in a request, one
	// parent per block). Otherwise requests take the general path.
	tree bool
	// general path scratch: blocks of the request already applied, and
	// the distinct blocks in application order with their parents.
	mark  bitset
	apply []applied

	// Failed counts blocks not inserted because the policy found no
	// victim although an unpinned key existed (a policy bug).
	Failed int
}

// applied is one distinct block of a request and the block before it.
type applied struct{ b, parent uint32 }

// NewPolicyCache wraps p (empty, built for capacity) for trace tr's id
// space. A ParentAware policy is told each block's parent (the block
// before it in the request) before the block is inserted.
func NewPolicyCache(p eviction.Policy, capacity int, tr *trace.Trace) *PolicyCache {
	c := &PolicyCache{
		p:        p,
		in:       newBitset(tr.NumBlocks() + 1),
		capacity: capacity,
		tree:     tr.IsTree(),
	}
	c.pa, _ = p.(eviction.ParentAware)
	c.lru, _ = p.(*eviction.LRU)
	switch p.Name() {
	case "lru", "fifo":
		c.upfront = true
	case "arc":
		c.insertFirst = true
	}
	if !c.tree {
		c.mark = newBitset(tr.NumBlocks() + 1)
	}
	return c
}

// Name is the policy's name.
func (c *PolicyCache) Name() string { return c.p.Name() }

// Len is the number of cached blocks.
func (c *PolicyCache) Len() int { return c.n }

// Policy returns the driven policy.
func (c *PolicyCache) Policy() eviction.Policy { return c.p }

// SetEvictFunc installs a hook called for every victim.
func (c *PolicyCache) SetEvictFunc(f func(uint32)) { c.onEvict = f }

// Contains reports whether block b is cached.
func (c *PolicyCache) Contains(b uint32) bool { return c.in.has(b) }

// Access applies one request; see Cache.
func (c *PolicyCache) Access(blocks []uint32, _ int) int {
	in := c.in
	hit := 0
	for hit < len(blocks) && in.has(blocks[hit]) {
		hit++
	}
	req := blocks
	if len(req) > c.capacity {
		req = req[:c.capacity]
	}
	if !c.tree {
		c.accessGeneral(req)
		return hit
	}
	// In a tree the hit blocks are distinct and cached: hit <= capacity.
	missing := 0
	for _, b := range req[hit:] {
		if !in.has(b) {
			missing++
		}
	}
	if missing == 0 {
		if c.lru != nil {
			for i := len(req) - 1; i >= 0; i-- {
				c.lru.Touch(uint64(req[i]))
			}
			return hit
		}
		for i := len(req) - 1; i >= 0; i-- {
			c.p.Touch(uint64(req[i]))
		}
		return hit
	}
	if c.lru != nil && c.onEvict == nil {
		return c.accessLRU(req, hit, missing)
	}
	if c.upfront {
		return c.accessUpfront(req, hit, missing)
	}
	// Pins cost two calls per block: take them only when this request
	// evicts.
	pin := c.n+missing > c.capacity
	if pin {
		for _, b := range req {
			if in.has(b) {
				c.p.Pin(uint64(b))
			}
		}
	}
	for i := len(req) - 1; i >= 0; i-- {
		b := req[i]
		if in.has(b) {
			c.p.Touch(uint64(b))
			continue
		}
		var parent uint32
		if i > 0 {
			parent = req[i-1]
		}
		c.insert(b, parent, pin)
	}
	if pin {
		for _, b := range req {
			if in.has(b) {
				c.p.Unpin(uint64(b))
			}
		}
	}
	return hit
}

// insert adds the missing block b, making room per the policy's order;
// pin pins it until the request's end.
func (c *PolicyCache) insert(b, parent uint32, pin bool) bool {
	if c.insertFirst {
		c.add(b, parent)
		// Never its own victim: the paper's x enters after REPLACE.
		pinned := pin || c.n > c.capacity
		if pinned {
			c.p.Pin(uint64(b))
		}
		for c.n > c.capacity {
			if !c.evictOne() {
				c.p.Remove(uint64(b))
				c.in.clear(b)
				c.n--
				c.Failed++
				return false
			}
		}
		if pinned && !pin {
			c.p.Unpin(uint64(b))
		}
		return true
	}
	if !c.makeRoom() {
		c.Failed++
		return false
	}
	c.add(b, parent)
	if pin {
		c.p.Pin(uint64(b))
	}
	return true
}

func (c *PolicyCache) add(b, parent uint32) {
	if c.pa != nil {
		c.pa.SetParent(uint64(b), uint64(parent))
	}
	c.p.Insert(uint64(b))
	c.in.set(b)
	c.n++
}

// accessGeneral applies a request of a trace that is not a tree: each
// distinct block once, at its deepest occurrence, with the block before
// that occurrence as its parent; every distinct cached block pinned while
// the request evicts.
func (c *PolicyCache) accessGeneral(req []uint32) {
	in, mark := c.in, c.mark
	c.apply = c.apply[:0]
	missing := 0
	for i := len(req) - 1; i >= 0; i-- {
		b := req[i]
		if mark.has(b) {
			continue
		}
		mark.set(b)
		var parent uint32
		if i > 0 {
			parent = req[i-1]
		}
		c.apply = append(c.apply, applied{b, parent})
		if !in.has(b) {
			missing++
		}
	}
	for _, a := range c.apply {
		mark.clear(a.b)
	}
	pin := c.n+missing > c.capacity
	if pin {
		for _, a := range c.apply {
			if in.has(a.b) {
				c.p.Pin(uint64(a.b))
			}
		}
	}
	for _, a := range c.apply {
		if in.has(a.b) {
			c.p.Touch(uint64(a.b))
			continue
		}
		c.insert(a.b, a.parent, pin)
	}
	if pin {
		for _, a := range c.apply {
			if in.has(a.b) {
				c.p.Unpin(uint64(a.b))
			}
		}
	}
}

func (c *PolicyCache) accessUpfront(req []uint32, hit, missing int) int {
	in := c.in
	if e := c.n + missing - c.capacity; e > 0 {
		for _, b := range req {
			if in.has(b) {
				c.p.Pin(uint64(b))
			}
		}
		for ; e > 0; e-- {
			if !c.evictOne() {
				break
			}
		}
		for _, b := range req {
			if in.has(b) {
				c.p.Unpin(uint64(b))
			}
		}
	}
	for i := len(req) - 1; i >= 0; i-- {
		b := req[i]
		if in.has(b) {
			c.p.Touch(uint64(b))
			continue
		}
		if c.n >= c.capacity && !c.makeRoom() {
			c.Failed++
			continue
		}
		c.p.Insert(uint64(b))
		in.set(b)
		c.n++
	}
	return hit
}

// accessLRU is accessUpfront for the production LRU, with the same result
// in fewer calls. accessUpfront pins the request's cached blocks, evicts
// the e oldest unpinned blocks and unpins them (three index lookups per
// cached block with the touch that follows). Here they are touched first:
// moved to the front, they are not among the e oldest, since the cache
// holds at least e blocks outside the request (the request is cut to the
// capacity: e = n + missing - capacity <= n - cached). So the victims are
// the same, and so is the final order: the request's touches and inserts
// that follow, deepest first, put every block of the request at the front
// in the same order either way, and leave the other blocks' order alone.
// (Not for FIFO, whose Touch does not move a block.) Multi-tier mode,
// which watches victims through onEvict, keeps accessUpfront.
func (c *PolicyCache) accessLRU(req []uint32, hit, missing int) int {
	in, lru := c.in, c.lru
	if e := c.n + missing - c.capacity; e > 0 {
		for _, b := range req {
			if in.has(b) {
				lru.Touch(uint64(b))
			}
		}
		for ; e > 0; e-- {
			v, ok := lru.Evict()
			if !ok || v == 0 || v >= uint64(len(in))*64 || !in.has(uint32(v)) {
				break
			}
			in.clear(uint32(v))
			c.n--
		}
	}
	for i := len(req) - 1; i >= 0; i-- {
		b := req[i]
		if in.has(b) {
			lru.Touch(uint64(b))
			continue
		}
		if c.n >= c.capacity && !c.makeRoom() {
			c.Failed++
			continue
		}
		lru.Insert(uint64(b))
		in.set(b)
		c.n++
	}
	return hit
}

// Insert adds block b (touching it when present), evicting as needed; it
// reports whether b is cached afterwards. Multi-tier mode uses it for
// demotions and write-through copies, whose parent is given.
func (c *PolicyCache) Insert(b, parent uint32) bool {
	if c.in.has(b) {
		c.p.Touch(uint64(b))
		return true
	}
	return c.insert(b, parent, false)
}

// Remove forgets block b (a promotion out of an exclusive lower tier).
func (c *PolicyCache) Remove(b uint32) {
	if c.in.has(b) {
		c.p.Remove(uint64(b))
		c.in.clear(b)
		c.n--
	}
}

func (c *PolicyCache) makeRoom() bool {
	for c.n >= c.capacity {
		if !c.evictOne() {
			return false
		}
	}
	return true
}

func (c *PolicyCache) evictOne() bool {
	v, ok := c.p.Evict()
	if !ok || v == 0 || v >= uint64(len(c.in))*64 || !c.in.has(uint32(v)) {
		return false
	}
	c.in.clear(uint32(v))
	c.n--
	if c.onEvict != nil {
		c.onEvict(uint32(v))
	}
	return true
}

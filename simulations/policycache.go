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
type PolicyCache struct {
	p        eviction.Policy
	pa       eviction.ParentAware
	parent   []uint32
	in       bitset
	n        int
	capacity int
	onEvict  func(uint32)
	// upfront: the policy's choice among keys a request does not touch is
	// independent of the request's own inserts and touches (LRU, FIFO), so
	// a request's victims can be taken before its blocks are applied,
	// with pins on its cached blocks only. Same victims, fewer calls.
	upfront bool

	// Failed counts blocks not inserted because the policy found no
	// victim although an unpinned key existed (a policy bug).
	Failed int
}

// NewPolicyCache wraps p (empty, built for capacity) for trace tr's id
// space. A ParentAware policy is told each block's parent before the
// block is inserted.
func NewPolicyCache(p eviction.Policy, capacity int, tr *trace.Trace) *PolicyCache {
	c := &PolicyCache{
		p:        p,
		parent:   tr.Parent,
		in:       newBitset(tr.NumBlocks() + 1),
		capacity: capacity,
	}
	c.pa, _ = p.(eviction.ParentAware)
	switch p.Name() {
	case "lru", "fifo":
		c.upfront = true
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
	missing := 0
	for _, b := range req[hit:] {
		if !in.has(b) {
			missing++
		}
	}
	if missing == 0 {
		for i := len(req) - 1; i >= 0; i-- {
			c.p.Touch(uint64(req[i]))
		}
		return hit
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
		if !c.makeRoom() {
			c.Failed++
			continue
		}
		if c.pa != nil {
			c.pa.SetParent(uint64(b), uint64(c.parent[b]))
		}
		c.p.Insert(uint64(b))
		in.set(b)
		c.n++
		if pin {
			c.p.Pin(uint64(b))
		}
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

// Insert adds block b (touching it when present), evicting as needed; it
// reports whether b is cached afterwards. Multi-tier mode uses it for
// demotions.
func (c *PolicyCache) Insert(b uint32) bool {
	if c.in.has(b) {
		c.p.Touch(uint64(b))
		return true
	}
	if !c.makeRoom() {
		c.Failed++
		return false
	}
	if c.pa != nil {
		c.pa.SetParent(uint64(b), uint64(c.parent[b]))
	}
	c.p.Insert(uint64(b))
	c.in.set(b)
	c.n++
	return true
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

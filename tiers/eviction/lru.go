package eviction

// LRU evicts the least recently used unpinned key. Insert and Touch move a
// key to the front; Evict walks from the back past pinned keys, which keep
// their place and their recency. Every operation is O(1) apart from the
// pinned keys Evict steps over.
//
// LRU has no capacity-dependent state: Len may exceed any capacity, the owner
// calls Evict as often as its budget requires.
type LRU struct {
	t    table
	list int32 // sentinel
	n    int
}

// NewLRU returns an empty LRU presized for about hint keys.
func NewLRU(hint int) *LRU {
	p := &LRU{t: newTable(hint, loadFast)}
	p.list = p.t.sentinel()
	return p
}

// NewLRUDense returns an empty LRU presized for about hint keys whose keys
// below keys are indexed directly (4 bytes per possible key, allocated up
// front; no hashing, no probing) and larger ones as by NewLRU. The
// simulator uses it for block ids when the cache holds a good share of the
// trace's blocks: the direct index is then no larger than a hashed one.
// Eviction decisions are exactly NewLRU's.
func NewLRUDense(hint int, keys uint64) *LRU {
	if keys == 0 || keys > 1<<31 {
		return NewLRU(hint)
	}
	p := NewLRU(hint)
	p.t.idx = newKeyIndex(0, loadFast) // only for keys >= keys
	p.t.idx.dense = make([]int32, keys)
	return p
}

// Name implements Policy.
func (p *LRU) Name() string { return "lru" }

// Insert implements Policy.
func (p *LRU) Insert(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.t.moveToFront(p.list, i)
		return
	}
	i := p.t.add(key)
	p.t.pushFront(p.list, i)
	p.n++
}

// Touch implements Policy.
func (p *LRU) Touch(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.t.moveToFront(p.list, i)
	}
}

// Contains implements Policy.
func (p *LRU) Contains(key uint64) bool { return p.t.get(key) >= 0 }

// Remove implements Policy.
func (p *LRU) Remove(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.t.unlink(i)
		p.t.drop(i, 0)
		p.n--
	}
}

// Evict implements Policy.
func (p *LRU) Evict() (uint64, bool) {
	if p.n == p.t.pinned[0] {
		return 0, false
	}
	i := p.t.oldestUnpinned(p.list)
	key := p.t.nodes[i].key
	p.t.unlink(i)
	p.t.drop(i, 0)
	p.n--
	return key, true
}

// Pin implements Policy.
func (p *LRU) Pin(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.t.pin(i, 0)
	}
}

// Unpin implements Policy.
func (p *LRU) Unpin(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.t.unpin(i, 0)
	}
}

// Len implements Policy.
func (p *LRU) Len() int { return p.n }

// Bytes reports the memory the policy holds for its bookkeeping.
func (p *LRU) Bytes() int { return p.t.bytes() }

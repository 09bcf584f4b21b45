package eviction

// FIFO evicts the oldest inserted unpinned key; accesses do not change the
// order (Touch only checks presence). Pinned keys keep their place in the
// queue and are evicted in order once unpinned.
//
// FIFO has no capacity-dependent state: Len may exceed any capacity.
type FIFO struct {
	t     table
	queue int32 // sentinel
	n     int
}

// NewFIFO returns an empty FIFO presized for about hint keys.
func NewFIFO(hint int) *FIFO {
	p := &FIFO{t: newTable(hint, loadFast)}
	p.queue = p.t.sentinel()
	return p
}

// Name implements Policy.
func (p *FIFO) Name() string { return "fifo" }

// Insert implements Policy.
func (p *FIFO) Insert(key uint64) {
	if p.t.get(key) >= 0 {
		return
	}
	i := p.t.add(key)
	p.t.pushFront(p.queue, i)
	p.n++
}

// Touch implements Policy; FIFO ignores accesses.
func (p *FIFO) Touch(uint64) {}

// Contains implements Policy.
func (p *FIFO) Contains(key uint64) bool { return p.t.get(key) >= 0 }

// Remove implements Policy.
func (p *FIFO) Remove(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.t.unlink(i)
		p.t.drop(i, 0)
		p.n--
	}
}

// Evict implements Policy.
func (p *FIFO) Evict() (uint64, bool) {
	if p.n == p.t.pinned[0] {
		return 0, false
	}
	i := p.t.oldestUnpinned(p.queue)
	key := p.t.nodes[i].key
	p.t.unlink(i)
	p.t.drop(i, 0)
	p.n--
	return key, true
}

// Pin implements Policy.
func (p *FIFO) Pin(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.t.pin(i, 0)
	}
}

// Unpin implements Policy.
func (p *FIFO) Unpin(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.t.unpin(i, 0)
	}
}

// Len implements Policy.
func (p *FIFO) Len() int { return p.n }

// Bytes reports the memory the policy holds for its bookkeeping.
func (p *FIFO) Bytes() int { return p.t.bytes() }

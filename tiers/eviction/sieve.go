package eviction

// SIEVE is the eviction algorithm of Zhang, Yang, Yue, Vigfusson and Rashmi,
// "SIEVE is Simpler than LRU: an Efficient Turn-Key Eviction Algorithm for
// Web Caches", NSDI 2024.
//
// Keys sit in one FIFO queue, newest at the front, each with a visited bit.
// A hit only sets the bit (no list move, which is what makes SIEVE cheap).
// To evict, a hand moves from where it last stopped (initially the back)
// towards the front, clearing visited bits, and evicts the first key whose
// bit is clear; past the front it wraps to the back. Surviving keys are not
// moved, so new keys near the front are evicted quickly unless touched.
//
// Pinned keys are stepped over by the hand with their bit left as it is.
// SIEVE has no capacity-dependent state: Len may exceed any capacity.
type SIEVE struct {
	t     table
	queue int32 // sentinel
	hand  int32 // next node to examine; the sentinel means "start at the back"
	n     int
	// passes counts the hand's completed passes: how often it went from
	// the newest key back to the oldest.
	passes  int
	started bool
}

const sieveVisited = 1

// NewSIEVE returns an empty SIEVE presized for about hint keys.
func NewSIEVE(hint int) *SIEVE {
	p := &SIEVE{t: newTable(hint, loadFast)}
	p.queue = p.t.sentinel()
	p.hand = p.queue
	return p
}

// Name implements Policy.
func (p *SIEVE) Name() string { return "sieve" }

// Insert implements Policy.
func (p *SIEVE) Insert(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.t.meta[i] |= sieveVisited
		return
	}
	i := p.t.add(key)
	p.t.meta[i] = 0
	p.t.pushFront(p.queue, i)
	p.n++
}

// Touch implements Policy.
func (p *SIEVE) Touch(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.t.meta[i] |= sieveVisited
	}
}

// Contains implements Policy.
func (p *SIEVE) Contains(key uint64) bool { return p.t.get(key) >= 0 }

// Remove implements Policy.
func (p *SIEVE) Remove(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.forget(i)
	}
}

func (p *SIEVE) forget(i int32) {
	if p.hand == i {
		p.hand = p.t.nodes[i].prev
	}
	p.t.unlink(i)
	p.t.drop(i, 0)
	p.n--
}

// Evict implements Policy.
func (p *SIEVE) Evict() (uint64, bool) {
	if p.n == p.t.pinned[0] {
		return 0, false
	}
	nodes, meta, pins := p.t.nodes, p.t.meta, p.t.pins
	i := p.hand
	for {
		if i == p.queue {
			if p.started {
				p.passes++
			}
			p.started = true
			i = nodes[p.queue].prev
			continue
		}
		if pins[i] == 0 {
			if meta[i]&sieveVisited == 0 {
				break
			}
			meta[i] &^= sieveVisited
		}
		i = nodes[i].prev
	}
	key := nodes[i].key
	p.hand = i
	p.forget(i)
	return key, true
}

// Passes reports how many times the hand has gone past the newest key back
// to the oldest. Until the first pass completes, SIEVE evicts exactly what
// LFU evicts when every pinned key is touched before its last unpin (as
// the simulator's requests do): docs/eviction.md gives the argument.
func (p *SIEVE) Passes() int { return p.passes }

// Pin implements Policy.
func (p *SIEVE) Pin(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.t.pin(i, 0)
	}
}

// Unpin implements Policy.
func (p *SIEVE) Unpin(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.t.unpin(i, 0)
	}
}

// Len implements Policy.
func (p *SIEVE) Len() int { return p.n }

// Bytes reports the memory the policy holds for its bookkeeping.
func (p *SIEVE) Bytes() int { return p.t.bytes() }

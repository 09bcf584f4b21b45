package eviction

// LFU evicts the least frequently used unpinned key, and among keys of equal
// frequency the least recently used one. It follows the O(1) design of Shah,
// Mitra and Matani, "An O(1) algorithm for implementing the LFU cache
// eviction scheme" (2010): a list of frequency buckets in increasing order,
// each holding its keys in recency order. Insert puts a key in bucket 1,
// Touch moves it to the bucket of frequency+1 (created next to the current
// one when missing), empty buckets are freed. Evict takes the back of the
// lowest bucket, stepping over pinned keys.
//
// Frequencies never decay (plain LFU): a key that was hot long ago stays
// until hotter keys push it out. LFU has no capacity-dependent state.
type LFU struct {
	t       table
	buckets []bucket
	free    int32 // free bucket list, linked through next
	n       int
}

// bucket holds the keys of one frequency; buckets[0] is the sentinel of the
// bucket list (frequency 0, never holds keys).
type bucket struct {
	freq uint64
	keys int32 // sentinel node of the key list, newest first
	prev int32
	next int32
}

// NewLFU returns an empty LFU presized for about hint keys.
func NewLFU(hint int) *LFU {
	p := &LFU{t: newTable(hint, loadFast), free: -1}
	p.buckets = append(p.buckets, bucket{keys: -1})
	return p
}

// Name implements Policy.
func (p *LFU) Name() string { return "lfu" }

// newBucket creates a bucket of frequency f right after bucket after.
func (p *LFU) newBucket(f uint64, after int32) int32 {
	var b int32
	if p.free >= 0 {
		b = p.free
		p.free = p.buckets[b].next
	} else {
		b = int32(len(p.buckets))
		p.buckets = append(p.buckets, bucket{})
	}
	next := p.buckets[after].next
	p.buckets[b] = bucket{freq: f, keys: p.t.sentinel(), prev: after, next: next}
	p.buckets[next].prev = b
	p.buckets[after].next = b
	return b
}

// dropBucketIfEmpty frees bucket b once its last key left.
func (p *LFU) dropBucketIfEmpty(b int32) {
	bk := p.buckets[b]
	if p.t.nodes[bk.keys].next != bk.keys {
		return
	}
	p.buckets[bk.prev].next = bk.next
	p.buckets[bk.next].prev = bk.prev
	p.t.release(bk.keys)
	p.buckets[b] = bucket{keys: -1, next: p.free}
	p.free = b
}

// Insert implements Policy.
func (p *LFU) Insert(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.touch(i)
		return
	}
	b := p.buckets[0].next
	if b == 0 || p.buckets[b].freq != 1 {
		b = p.newBucket(1, 0)
	}
	i := p.t.add(key)
	p.t.meta[i] = uint32(b)
	p.t.pushFront(p.buckets[b].keys, i)
	p.n++
}

func (p *LFU) touch(i int32) {
	b := int32(p.t.meta[i])
	f := p.buckets[b].freq
	if f == ^uint64(0) {
		p.t.moveToFront(p.buckets[b].keys, i)
		return
	}
	nb := p.buckets[b].next
	if nb == 0 || p.buckets[nb].freq != f+1 {
		nb = p.newBucket(f+1, b)
	}
	p.t.unlink(i)
	p.t.meta[i] = uint32(nb)
	p.t.pushFront(p.buckets[nb].keys, i)
	p.dropBucketIfEmpty(b)
}

// Touch implements Policy.
func (p *LFU) Touch(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.touch(i)
	}
}

// Contains implements Policy.
func (p *LFU) Contains(key uint64) bool { return p.t.get(key) >= 0 }

// Remove implements Policy.
func (p *LFU) Remove(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.forget(i)
	}
}

func (p *LFU) forget(i int32) {
	b := int32(p.t.meta[i])
	p.t.unlink(i)
	p.t.drop(i, 0)
	p.n--
	p.dropBucketIfEmpty(b)
}

// Evict implements Policy.
func (p *LFU) Evict() (uint64, bool) {
	if p.n == p.t.pinned[0] {
		return 0, false
	}
	for b := p.buckets[0].next; b != 0; b = p.buckets[b].next {
		s := p.buckets[b].keys
		if i := p.t.oldestUnpinned(s); i != s {
			key := p.t.nodes[i].key
			p.forget(i)
			return key, true
		}
	}
	return 0, false // unreachable while the pin count is right
}

// Pin implements Policy.
func (p *LFU) Pin(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.t.pin(i, 0)
	}
}

// Unpin implements Policy.
func (p *LFU) Unpin(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.t.unpin(i, 0)
	}
}

// Len implements Policy.
func (p *LFU) Len() int { return p.n }

// Bytes reports the memory the policy holds for its bookkeeping.
func (p *LFU) Bytes() int { return p.t.bytes() + cap(p.buckets)*24 }

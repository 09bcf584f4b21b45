package eviction

// S3FIFO is the eviction algorithm of Yang, Zhang, Qiu, Yue and Rashmi,
// "FIFO Queues are All You Need for Cache Eviction", SOSP 2023.
//
// Three FIFO queues: a small queue S (about 10% of the entries) that admits
// new keys, a main queue M (the rest) and a ghost queue G that remembers keys
// (no data) recently evicted from S, sized like M. Each resident key carries
// a 2-bit access counter (saturating at 3).
//
//   - Insert: a key found in G goes to the front of M; any other new key goes
//     to the front of S. Counters start at 0.
//   - Touch: counter = min(counter+1, 3). No queue moves.
//   - Evict: if |S| >= the small target, take keys from the back of S: a key
//     touched while in S (counter >= 1) moves to the front of M with its
//     counter reset, the first untouched one is evicted into G. Otherwise
//     (or when S holds nothing evictable) take keys from the back of M: a
//     key with counter > 0 is reinserted at the front with counter-1 (a
//     2-bit CLOCK), the first key at 0 is evicted (not remembered in G).
//
// Following the authors' libCacheSim implementation, a key touched once in S
// is promoted (move-to-main threshold 1) and keys promoted from S do not
// trigger an eviction from M within the same Evict call: M may run over its
// target briefly and the next Evict then takes from M.
//
// Targets: with capacity c > 0 the small target is max(1, c/10) and the
// ghost holds at most max(1, c - c/10) keys. With c == 0 ("unknown") both are
// computed from the current Len at each eviction. Len above c changes
// nothing but the split: the owner decides when to Evict. The ghost queue is
// trimmed whenever it grows, so it never exceeds its target.
//
// Pinned keys keep their place and counter; Evict steps over them.
type S3FIFO struct {
	t        table
	capacity int
	small    int32 // sentinels
	main     int32
	ghost    int32
	n        [3]int // keys per queue
}

const (
	s3Small = 0
	s3Main  = 1
	s3Ghost = 2

	s3QueueMask = 3
	s3FreqShift = 2
	s3FreqMax   = 3
)

// NewS3FIFO returns an empty S3-FIFO with the given capacity in entries (0:
// unknown, targets follow Len).
func NewS3FIFO(capacity int) *S3FIFO {
	if capacity < 0 {
		capacity = 0
	}
	p := &S3FIFO{t: newTable(capacity*2, loadCompact), capacity: capacity}
	p.small = p.t.sentinel()
	p.main = p.t.sentinel()
	p.ghost = p.t.sentinel()
	return p
}

// Name implements Policy.
func (p *S3FIFO) Name() string { return "s3fifo" }

func s3queue(m uint32) int   { return int(m & s3QueueMask) }
func s3freq(m uint32) uint32 { return m >> s3FreqShift }

// Insert implements Policy.
func (p *S3FIFO) Insert(key uint64) {
	i := p.t.get(key)
	if i >= 0 {
		if s3queue(p.t.meta[i]) != s3Ghost {
			p.touch(i)
			return
		}
		// Ghost hit: the key was evicted from S recently, admit it to M.
		p.t.unlink(i)
		p.n[s3Ghost]--
		p.t.meta[i] = s3Main
		p.t.pushFront(p.main, i)
		p.n[s3Main]++
		return
	}
	i = p.t.add(key)
	p.t.meta[i] = s3Small
	p.t.pushFront(p.small, i)
	p.n[s3Small]++
}

func (p *S3FIFO) touch(i int32) {
	if s3freq(p.t.meta[i]) < s3FreqMax {
		p.t.meta[i] += 1 << s3FreqShift
	}
}

// Touch implements Policy.
func (p *S3FIFO) Touch(key uint64) {
	if i := p.t.get(key); i >= 0 {
		if s3queue(p.t.meta[i]) != s3Ghost {
			p.touch(i)
		}
	}
}

// Contains implements Policy.
func (p *S3FIFO) Contains(key uint64) bool {
	i := p.t.get(key)
	return i >= 0 && s3queue(p.t.meta[i]) != s3Ghost
}

// Remove implements Policy. A removed key is forgotten entirely, ghost
// included.
func (p *S3FIFO) Remove(key uint64) {
	i := p.t.get(key)
	if i < 0 {
		return
	}
	q := s3queue(p.t.meta[i])
	p.t.unlink(i)
	p.n[q]--
	p.t.drop(i, q)
}

// targets returns the small-queue target and the ghost bound.
func (p *S3FIFO) targets() (small, ghost int) {
	c := p.capacity
	if c == 0 {
		c = p.Len()
	}
	small = max(1, c/10)
	ghost = max(1, c-c/10)
	return small, ghost
}

// Evict implements Policy.
func (p *S3FIFO) Evict() (uint64, bool) {
	smallFree := p.n[s3Small] - p.t.pinned[s3Small]
	mainFree := p.n[s3Main] - p.t.pinned[s3Main]
	if smallFree == 0 && mainFree == 0 {
		return 0, false
	}
	smallTarget, ghostTarget := p.targets()
	if smallFree > 0 && (p.n[s3Small] >= smallTarget || mainFree == 0) {
		if key, ok := p.evictSmall(ghostTarget); ok {
			return key, true
		}
	}
	return p.evictMain(), true
}

// evictSmall moves touched keys from the back of S to M and evicts the first
// untouched one into G. It reports false when S held no untouched unpinned
// key (everything evictable went to M).
func (p *S3FIFO) evictSmall(ghostTarget int) (uint64, bool) {
	nodes, meta, pins := p.t.nodes, p.t.meta, p.t.pins
	i := nodes[p.small].prev
	for i != p.small {
		prev := nodes[i].prev
		if pins[i] > 0 {
			i = prev
			continue
		}
		p.t.unlink(i)
		p.n[s3Small]--
		if s3freq(meta[i]) >= 1 {
			meta[i] = s3Main
			p.t.pushFront(p.main, i)
			p.n[s3Main]++
			i = prev
			continue
		}
		meta[i] = s3Ghost
		p.t.pushFront(p.ghost, i)
		p.n[s3Ghost]++
		key := nodes[i].key
		for p.n[s3Ghost] > ghostTarget {
			g := nodes[p.ghost].prev
			p.t.unlink(g)
			p.n[s3Ghost]--
			p.t.drop(g, s3Ghost)
		}
		return key, true
	}
	return 0, false
}

// evictMain runs the 2-bit CLOCK over M; M must hold an unpinned key.
func (p *S3FIFO) evictMain() uint64 {
	nodes, meta, pins := p.t.nodes, p.t.meta, p.t.pins
	i := nodes[p.main].prev
	for {
		if i == p.main {
			i = nodes[p.main].prev
			continue
		}
		prev := nodes[i].prev
		if pins[i] == 0 {
			if s3freq(meta[i]) == 0 {
				break
			}
			meta[i] -= 1 << s3FreqShift
			p.t.moveToFront(p.main, i)
		}
		i = prev
	}
	key := nodes[i].key
	p.t.unlink(i)
	p.n[s3Main]--
	p.t.drop(i, s3Main)
	return key
}

// Pin implements Policy; ghost keys are absent and ignored.
func (p *S3FIFO) Pin(key uint64) {
	if i := p.t.get(key); i >= 0 {
		if q := s3queue(p.t.meta[i]); q != s3Ghost {
			p.t.pin(i, q)
		}
	}
}

// Unpin implements Policy.
func (p *S3FIFO) Unpin(key uint64) {
	if i := p.t.get(key); i >= 0 {
		if q := s3queue(p.t.meta[i]); q != s3Ghost {
			p.t.unpin(i, q)
		}
	}
}

// Len implements Policy: resident keys (S and M), not ghosts.
func (p *S3FIFO) Len() int { return p.n[s3Small] + p.n[s3Main] }

// Ghosts reports how many evicted keys the ghost queue remembers.
func (p *S3FIFO) Ghosts() int { return p.n[s3Ghost] }

// Bytes reports the memory the policy holds for its bookkeeping.
func (p *S3FIFO) Bytes() int { return p.t.bytes() }

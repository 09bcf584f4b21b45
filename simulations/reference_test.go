package simulations

import (
	"fmt"
	"math"
	"slices"

	"github.com/stratacache/stratacache/simulations/trace"
	"github.com/stratacache/stratacache/tiers/eviction/duel"
)

// Brute-force references of every policy the simulator runs, written from
// the papers and docs/eviction.md, not from the production code: plain
// slices of entries with explicit counters, a linear scan for every victim.
// Obviously right and slow (O(capacity) per eviction), which is why the
// comparisons run at modest capacities.
//
// refCache applies the reference semantics (../shared/traces/README.md,
// docs/SIMULATIONS.md) to a reference policy: hit = the longest run of
// leading cached blocks; the request's first min(len, capacity) blocks are
// pinned while it is applied; each distinct block of them is accessed once,
// deepest first (its deepest occurrence when a block repeats, which only a
// trace that is not a tree can do): a cached block is touched, a missing
// one inserted after room is made. Room is made before the insert
// (evict-then-insert, as SIEVE's, S3-FIFO's and the LRU family's papers
// do), except for ARC, whose REPLACE knows the missed key (the paper's
// Request(x)): refARC takes the whole miss.

// refPolicy is a reference policy the driver makes room for.
type refPolicy interface {
	name() string
	touch(b uint32)
	// add inserts b, a missing block whose predecessor in the request is
	// parent (0 for a request's first block).
	add(b, parent uint32)
	// victim picks an unpinned cached block, forgets it and returns it.
	victim(pinned []bool) (uint32, bool)
}

// missPolicy is a reference policy that handles a whole miss itself (ARC):
// it evicts what it must, reporting each victim through evict, and inserts b.
type missPolicy interface {
	name() string
	touch(b uint32)
	miss(b uint32, full bool, pinned []bool, evict func(uint32)) bool
}

// requestAware policies are told where each request sits in the trace.
type requestAware interface {
	begin(pos, end int)
}

// refCache drives a reference policy.
type refCache struct {
	capacity int
	pol      any    // refPolicy or missPolicy
	cached   []bool // by block id
	inReq    []bool // the blocks of the request being applied (pinned)
	done     []bool // the blocks it has applied
	n        int
	// victims of the request being applied, in eviction order.
	victims []uint32
	failed  int
	tick    uint64
}

func newRefCache(p any, capacity int, tr *trace.Trace) *refCache {
	n := tr.NumBlocks() + 1
	return &refCache{capacity: capacity, pol: p, cached: make([]bool, n), inReq: make([]bool, n), done: make([]bool, n)}
}

func (c *refCache) Name() string { return "ref-" + c.pol.(interface{ name() string }).name() }
func (c *refCache) Len() int     { return c.n }

func (c *refCache) evicted(v uint32) {
	if !c.cached[v] {
		panic(fmt.Sprintf("%s evicted %d, which is not cached", c.Name(), v))
	}
	c.cached[v] = false
	c.n--
	c.victims = append(c.victims, v)
}

// Access applies one request (the Cache interface, so that Replay drives
// it like the production caches).
func (c *refCache) Access(blocks []uint32, pos int) int {
	c.victims = c.victims[:0]
	if ra, ok := c.pol.(requestAware); ok {
		ra.begin(pos, pos+len(blocks))
	}
	hit := 0
	for hit < len(blocks) && c.cached[blocks[hit]] {
		hit++
	}
	req := blocks[:min(len(blocks), c.capacity)]
	inReq, done := c.inReq, c.done
	for _, b := range req {
		inReq[b] = true
	}
	defer func() {
		for _, b := range req {
			inReq[b], done[b] = false, false
		}
	}()
	pinned := inReq
	for i := len(req) - 1; i >= 0; i-- {
		b := req[i]
		if done[b] {
			continue
		}
		done[b] = true
		if c.cached[b] {
			switch p := c.pol.(type) {
			case refPolicy:
				p.touch(b)
			case missPolicy:
				p.touch(b)
			}
			continue
		}
		var parent uint32
		if i > 0 {
			parent = req[i-1]
		}
		switch p := c.pol.(type) {
		case refPolicy:
			ok := true
			for c.n >= c.capacity {
				v, found := p.victim(pinned)
				if !found {
					ok = false
					break
				}
				c.evicted(v)
			}
			if !ok {
				c.failed++
				continue
			}
			p.add(b, parent)
		case missPolicy:
			if !p.miss(b, c.n >= c.capacity, pinned, c.evicted) {
				c.failed++
				continue
			}
		}
		c.cached[b] = true
		c.n++
		if c.n > c.capacity {
			panic(fmt.Sprintf("%s holds %d blocks, capacity %d", c.Name(), c.n, c.capacity))
		}
	}
	return hit
}

// refEntry is a cached block of a reference policy.
type refEntry struct {
	b       uint32
	parent  uint32
	freq    int
	last    uint64 // tick of the last access
	born    uint64 // tick of the insert
	visited bool
	queue   int
}

// entries is a slice of entries with a linear find.
type entries []refEntry

func (es entries) find(b uint32) int {
	for i := range es {
		if es[i].b == b {
			return i
		}
	}
	return -1
}

func (es *entries) remove(i int) refEntry {
	e := (*es)[i]
	*es = slices.Delete(*es, i, i+1)
	return e
}

// refScan covers the policies whose victim is the minimum of a key over the
// unpinned cached blocks: LRU (last access), FIFO (insert), LFU (frequency,
// then last access), prefix (leaves before inner blocks, then last access).
type refScan struct {
	kind string
	es   entries
	tick uint64
	// prefix: parent[b] == gen marks b as having a cached child.
	parent []uint64
	gen    uint64
}

func (r *refScan) name() string { return r.kind }

func (r *refScan) touch(b uint32) {
	r.tick++
	e := &r.es[r.es.find(b)]
	e.freq++
	e.last = r.tick
}

func (r *refScan) add(b, parent uint32) {
	if parent == b { // a block after itself (not a tree): a root, as documented
		parent = 0
	}
	r.tick++
	r.es = append(r.es, refEntry{b: b, parent: parent, freq: 1, last: r.tick, born: r.tick})
}

func (r *refScan) victim(pinned []bool) (uint32, bool) {
	best := -1
	less := func(a, b refEntry) bool {
		switch r.kind {
		case "fifo":
			return a.born < b.born
		case "lfu":
			if a.freq != b.freq {
				return a.freq < b.freq
			}
		}
		return a.last < b.last
	}
	if r.kind == "prefix" { // mark the blocks with a cached child
		r.gen++
		for _, e := range r.es {
			r.parent[e.parent] = r.gen
		}
	}
	for _, leavesOnly := range []bool{true, false} {
		for i, e := range r.es {
			if pinned[e.b] {
				continue
			}
			if r.kind == "prefix" && leavesOnly && r.parent[e.b] == r.gen {
				continue
			}
			if best < 0 || less(e, r.es[best]) {
				best = i
			}
		}
		if best >= 0 || r.kind != "prefix" {
			break
		}
	}
	if best < 0 {
		return 0, false
	}
	return r.es.remove(best).b, true
}

// refSIEVE: one queue, oldest first; a hand that moves from old to new,
// clearing visited bits, stepping over pinned blocks, and evicting the first
// unvisited one; past the newest it wraps to the oldest (NSDI'24, Fig. 2).
type refSIEVE struct {
	q    entries
	hand int // index into q of the next block to examine
	// wraps counts how often the hand went past the newest block.
	wraps int
}

func (r *refSIEVE) name() string { return "sieve" }

func (r *refSIEVE) touch(b uint32) { r.q[r.q.find(b)].visited = true }

func (r *refSIEVE) add(b, _ uint32) { r.q = append(r.q, refEntry{b: b}) }

func (r *refSIEVE) victim(pinned []bool) (uint32, bool) {
	free := 0
	for _, e := range r.q {
		if !pinned[e.b] {
			free++
		}
	}
	if free == 0 {
		return 0, false
	}
	for {
		if r.hand >= len(r.q) {
			r.hand = 0
			r.wraps++
		}
		e := &r.q[r.hand]
		if !pinned[e.b] {
			if !e.visited {
				// The next block to examine is the one after the victim,
				// which slides into its index; after the newest block the
				// hand goes back to the oldest (the paper's hand = nil),
				// even when blocks are added before the next eviction.
				v := r.q.remove(r.hand).b
				if r.hand == len(r.q) {
					r.hand = 0
					r.wraps++
				}
				return v, true
			}
			e.visited = false
		}
		r.hand++
	}
}

// refS3FIFO: a small FIFO S, a main FIFO M (both oldest first) and a ghost
// FIFO G of blocks evicted from S; a counter per resident block, capped at
// 3 (SOSP'23, Algorithm 1, with libCacheSim's choices that docs/eviction.md
// states: a block touched once in S moves to M; moves from S to M never
// evict from M in the same call).
type refS3FIFO struct {
	capacity int
	s, m     entries
	g        []uint32
}

func (r *refS3FIFO) name() string { return "s3fifo" }

func (r *refS3FIFO) touch(b uint32) {
	for _, q := range []entries{r.s, r.m} {
		if i := q.find(b); i >= 0 {
			q[i].freq = min(q[i].freq+1, 3)
			return
		}
	}
	panic("touch of a block S3-FIFO does not hold")
}

func (r *refS3FIFO) add(b, _ uint32) {
	if i := slices.Index(r.g, b); i >= 0 {
		r.g = slices.Delete(r.g, i, i+1)
		r.m = append(r.m, refEntry{b: b})
		return
	}
	r.s = append(r.s, refEntry{b: b})
}

func countUnpinned(q entries, pinned []bool) int {
	n := 0
	for _, e := range q {
		if !pinned[e.b] {
			n++
		}
	}
	return n
}

func (r *refS3FIFO) victim(pinned []bool) (uint32, bool) {
	sFree, mFree := countUnpinned(r.s, pinned), countUnpinned(r.m, pinned)
	if sFree == 0 && mFree == 0 {
		return 0, false
	}
	small, ghost := max(1, r.capacity/10), max(1, r.capacity-r.capacity/10)
	if sFree > 0 && (len(r.s) >= small || mFree == 0) {
		for i := 0; i < len(r.s); {
			e := r.s[i]
			if pinned[e.b] {
				i++
				continue
			}
			r.s.remove(i)
			if e.freq >= 1 {
				r.m = append(r.m, refEntry{b: e.b})
				continue
			}
			r.g = append(r.g, e.b)
			if len(r.g) > ghost {
				r.g = r.g[len(r.g)-ghost:]
			}
			return e.b, true
		}
	}
	for i := 0; ; {
		if i >= len(r.m) {
			i = 0
		}
		e := &r.m[i]
		if pinned[e.b] {
			i++
			continue
		}
		if e.freq == 0 {
			return r.m.remove(i).b, true
		}
		e.freq--
		moved := r.m.remove(i)
		r.m = append(r.m, moved) // back to the newest end; i now names the next one
	}
}

// refARC is ARC as the FAST'03 paper's Request(x) states it, with REPLACE
// taking the least recent unpinned block of the list it chooses (the other
// list's when that one holds only pinned blocks), as docs/eviction.md
// states for pins. Lists are oldest first.
type refARC struct {
	c              int
	p              int
	t1, t2, b1, b2 []uint32
}

func (r *refARC) name() string { return "arc" }

func del(l []uint32, b uint32) ([]uint32, bool) {
	if i := slices.Index(l, b); i >= 0 {
		return slices.Delete(l, i, i+1), true
	}
	return l, false
}

func (r *refARC) touch(b uint32) { // case I
	var ok bool
	if r.t1, ok = del(r.t1, b); !ok {
		if r.t2, ok = del(r.t2, b); !ok {
			panic("touch of a block ARC does not hold")
		}
	}
	r.t2 = append(r.t2, b)
}

func oldestUnpinned(l []uint32, pinned []bool) int {
	for i, b := range l {
		if !pinned[b] {
			return i
		}
	}
	return -1
}

// replace is the paper's REPLACE(x, p).
func (r *refARC) replace(xInB2 bool, pinned []bool, evict func(uint32)) bool {
	fromT1 := len(r.t1) >= 1 && ((xInB2 && len(r.t1) == r.p) || len(r.t1) > r.p)
	i1, i2 := oldestUnpinned(r.t1, pinned), oldestUnpinned(r.t2, pinned)
	if fromT1 && i1 < 0 {
		fromT1 = false
	}
	if !fromT1 && i2 < 0 {
		if i1 < 0 {
			return false
		}
		fromT1 = true
	}
	if fromT1 {
		v := r.t1[i1]
		r.t1 = slices.Delete(r.t1, i1, i1+1)
		r.b1 = append(r.b1, v)
		evict(v)
	} else {
		v := r.t2[i2]
		r.t2 = slices.Delete(r.t2, i2, i2+1)
		r.b2 = append(r.b2, v)
		evict(v)
	}
	return true
}

func (r *refARC) miss(x uint32, full bool, pinned []bool, evict func(uint32)) bool {
	c := r.c
	evicted := false
	ev := func(v uint32) { evicted = true; evict(v) }
	var inB1, inB2 bool
	r.b1, inB1 = del(r.b1, x)
	if !inB1 {
		r.b2, inB2 = del(r.b2, x)
	}
	ok := true
	switch {
	case inB1: // case II: |B1| and |B2| as they were with x in B1
		d := 1
		if len(r.b1)+1 < len(r.b2) {
			d = len(r.b2) / (len(r.b1) + 1)
		}
		r.p = min(r.p+d, c)
		ok = r.replace(false, pinned, ev)
	case inB2: // case III
		d := 1
		if len(r.b2)+1 < len(r.b1) {
			d = len(r.b1) / (len(r.b2) + 1)
		}
		r.p = max(r.p-d, 0)
		ok = r.replace(true, pinned, ev)
	default: // case IV
		l1 := len(r.t1) + len(r.b1)
		total := l1 + len(r.t2) + len(r.b2)
		switch {
		case l1 == c && len(r.t1) < c:
			r.b1 = r.b1[1:]
			ok = r.replace(false, pinned, ev)
		case l1 == c:
			i := oldestUnpinned(r.t1, pinned)
			if ok = i >= 0; ok {
				v := r.t1[i]
				r.t1 = slices.Delete(r.t1, i, i+1)
				ev(v)
			}
		case total >= c:
			if total == 2*c {
				r.b2 = r.b2[1:]
			}
			ok = r.replace(false, pinned, ev)
		}
	}
	if !ok {
		return false
	}
	if evicted != full {
		// The paper replaces exactly when the cache is full; anything else
		// means the driver and the paper disagree on the state.
		panic(fmt.Sprintf("ARC reference: replaced=%v with a full cache=%v", evicted, full))
	}
	if inB1 || inB2 {
		r.t2 = append(r.t2, x)
	} else {
		r.t1 = append(r.t1, x)
	}
	return true
}

// refMIN evicts the unpinned cached block whose next use (the first access
// after the request being applied) is farthest, never counting as
// infinitely far; the deeper block first on ties.
type refMIN struct {
	// uses[b] lists the positions (in the trace's Blocks) that access b.
	uses  map[uint32][]int
	es    entries
	next  []int // next use of each cached block, refreshed lazily
	end   int
	depth []uint32
}

func newRefMIN(tr *trace.Trace) *refMIN {
	r := &refMIN{uses: map[uint32][]int{}, next: make([]int, tr.NumBlocks()+1), depth: tr.Depth}
	for pos, b := range tr.Blocks {
		r.uses[b] = append(r.uses[b], pos)
	}
	return r
}

func (r *refMIN) name() string       { return "min" }
func (r *refMIN) begin(pos, end int) { r.end = end }
func (r *refMIN) touch(b uint32)     { r.next[b] = r.nextUse(b) }
func (r *refMIN) add(b, _ uint32) {
	r.es = append(r.es, refEntry{b: b})
	r.next[b] = r.nextUse(b)
}

// nextUse is the first access of b at or after the end of the request
// being applied.
func (r *refMIN) nextUse(b uint32) int {
	u := r.uses[b]
	i, _ := slices.BinarySearch(u, r.end)
	if i == len(u) {
		return math.MaxInt
	}
	return u[i]
}

func (r *refMIN) victim(pinned []bool) (uint32, bool) {
	best, bestUse := -1, 0
	for i, e := range r.es {
		if pinned[e.b] {
			continue
		}
		u := r.next[e.b]
		if u < r.end { // accessed by this request past the capacity: not applied
			u = r.nextUse(e.b)
			r.next[e.b] = u
		}
		if best < 0 || u > bestUse || (u == bestUse && r.depth[e.b] > r.depth[r.es[best].b]) {
			best, bestUse = i, u
		}
	}
	if best < 0 {
		return 0, false
	}
	return r.es.remove(best).b, true
}

// newRefPolicy builds the reference of a policy name for capacity blocks.
func newRefPolicy(name string, capacity int, tr *trace.Trace) any {
	switch name {
	case "lru", "fifo", "lfu", "prefix":
		return &refScan{kind: name, parent: make([]uint64, tr.NumBlocks()+1)}
	case "sieve":
		return &refSIEVE{}
	case "s3fifo":
		return &refS3FIFO{capacity: capacity}
	case "arc":
		return &refARC{c: capacity}
	case PolicyMIN:
		return newRefMIN(tr)
	case "duel":
		return newRefDuel(capacity)
	}
	return nil
}

// refDuel is the duel policy of tiers/eviction/duel as its documentation
// states it: resident keys in probation (seen once) or protected (seen
// again, or inserted while the ghost remembers them), a ghost of the
// fingerprints of the last GhostFactor x capacity evicted keys, and two
// sampled shadow caches (one always LRU, one always filtering) whose
// decayed hit counts pick the mode. Lists are scanned for the least
// recent unpinned key by stamp.
type refDuel struct {
	cfg        duel.Config
	main       *refDuelCore
	lr, fl     *refDuelCore
	mask       uint64
	hitsLR     float64
	hitsFL     float64
	samples    int
	filterMode bool
}

type refDuelEntry struct {
	key   uint64
	seg   int // 1 probation, 2 protected
	stamp uint64
}

type refDuelCore struct {
	capacity  int
	filter    bool
	probation float64
	es        []refDuelEntry
	clock     uint64
	ring      []uint32 // evicted fingerprints, oldest first
	ringCap   int
	ghost     map[uint32]int
}

func newRefDuel(capacity int) *refDuel {
	cfg := duel.DefaultConfig()
	capacity = max(1, capacity)
	d := &refDuel{cfg: cfg, main: newRefDuelCore(capacity, false, cfg)}
	s := 1
	for capacity/(s*2) >= cfg.ShadowMin {
		s *= 2
	}
	d.mask = uint64(s - 1)
	d.lr = newRefDuelCore(max(1, capacity/s), false, cfg)
	d.fl = newRefDuelCore(max(1, capacity/s), true, cfg)
	return d
}

func newRefDuelCore(capacity int, filter bool, cfg duel.Config) *refDuelCore {
	return &refDuelCore{capacity: capacity, filter: filter, probation: cfg.ProbationShare * float64(capacity),
		ringCap: max(1, cfg.GhostFactor*capacity), ghost: map[uint32]int{}}
}

// duelMix is the key hash duel documents for sampling and fingerprints.
func duelMix(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	return k
}

func (c *refDuelCore) find(k uint64) int {
	for i := range c.es {
		if c.es[i].key == k {
			return i
		}
	}
	return -1
}

func (c *refDuelCore) insert(k uint64) {
	c.clock++
	if i := c.find(k); i >= 0 {
		c.es[i].seg, c.es[i].stamp = 2, c.clock
		return
	}
	seg := 1
	if c.ghost[uint32(duelMix(k)>>32)|1] > 0 {
		seg = 2
	}
	c.es = append(c.es, refDuelEntry{key: k, seg: seg, stamp: c.clock})
}

func (c *refDuelCore) touch(k uint64) {
	if i := c.find(k); i >= 0 {
		c.clock++
		c.es[i].seg, c.es[i].stamp = 2, c.clock
	}
}

func (c *refDuelCore) count(seg int) int {
	n := 0
	for _, e := range c.es {
		if e.seg == seg {
			n++
		}
	}
	return n
}

// oldest is the index of the least recent unpinned key of seg, or -1.
func (c *refDuelCore) oldest(seg int, pinned func(uint64) bool) int {
	best := -1
	for i, e := range c.es {
		if e.seg == seg && !pinned(e.key) && (best < 0 || e.stamp < c.es[best].stamp) {
			best = i
		}
	}
	return best
}

func (c *refDuelCore) evict(pinned func(uint64) bool) (uint64, bool) {
	v := -1
	if c.filter {
		for tries := c.count(2) + 1; tries > 0 && v < 0; tries-- {
			if float64(c.count(1)) > c.probation {
				if v = c.oldest(1, pinned); v >= 0 {
					break
				}
			}
			p := c.oldest(2, pinned)
			if p < 0 {
				v = c.oldest(1, pinned)
				break
			}
			// Demote the protected tail to probation's newest end.
			c.clock++
			c.es[p].seg, c.es[p].stamp = 1, c.clock
		}
	} else {
		a, b := c.oldest(1, pinned), c.oldest(2, pinned)
		switch {
		case a < 0:
			v = b
		case b < 0:
			v = a
		case c.es[a].stamp < c.es[b].stamp:
			v = a
		default:
			v = b
		}
	}
	if v < 0 {
		return 0, false
	}
	k := c.es[v].key
	c.es = slices.Delete(c.es, v, v+1)
	if len(c.ring) == c.ringCap {
		if c.ghost[c.ring[0]]--; c.ghost[c.ring[0]] == 0 {
			delete(c.ghost, c.ring[0])
		}
		c.ring = c.ring[1:]
	}
	fp := uint32(duelMix(k)>>32) | 1
	c.ring = append(c.ring, fp)
	c.ghost[fp]++
	return k, true
}

// access is a shadow's step (no pins).
func (c *refDuelCore) access(k uint64) bool {
	if c.find(k) >= 0 {
		c.touch(k)
		return true
	}
	for len(c.es) >= c.capacity {
		if _, ok := c.evict(func(uint64) bool { return false }); !ok {
			break
		}
	}
	c.insert(k)
	return false
}

func (d *refDuel) sample(k uint64) {
	if duelMix(k)&d.mask != 0 {
		return
	}
	if d.lr.access(k) {
		d.hitsLR++
	}
	if d.fl.access(k) {
		d.hitsFL++
	}
	d.samples++
	if d.samples >= d.cfg.Window {
		d.samples = 0
		d.hitsLR /= 2
		d.hitsFL /= 2
	}
	d.filterMode = d.hitsFL > d.hitsLR*(1+d.cfg.Margin)
	d.main.filter = d.filterMode
}

func (d *refDuel) name() string { return "duel" }
func (d *refDuel) touch(b uint32) {
	d.sample(uint64(b))
	d.main.touch(uint64(b))
}
func (d *refDuel) add(b, _ uint32) {
	d.sample(uint64(b))
	d.main.insert(uint64(b))
}
func (d *refDuel) victim(pinned []bool) (uint32, bool) {
	k, ok := d.main.evict(func(k uint64) bool { return pinned[k] })
	return uint32(k), ok
}

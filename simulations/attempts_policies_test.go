package simulations

import "container/list"

// The policies tried against duel in the held-out search (attempts_test.go),
// kept as test code: they were measured, not shipped. One parameterised
// core covers the three families: a probation/protected LRU with a ghost
// (duel's family), W-TinyLFU-style admission (a window and a count-min
// sketch of frequencies that the window's candidate must beat), and
// prefix-tree signals (a new block whose parent was hit enters protected;
// a parent's older childless child is evicted first once a newer sibling
// arrives). Written for clarity (container/list and maps), not speed.

type xparams struct {
	probShare   float64 // filter mode: evict probation while it holds more than this share
	ghostFactor float64 // ghost holds this many capacities of evicted keys (0: none)
	ghostAdmit  bool    // a ghost hit enters protected
	tinyLFU     bool    // window + TinyLFU admission
	windowShare float64
	inherit     bool // a new key whose parent has been reused enters protected
	supersede   bool // when a parent gets a newer child, its older childless children go first
	duel        bool // follow LRU or the filter, whichever hits more on sampled shadows
	sketchMul   int
	margin      float64 // the filter must beat LRU's shadow by this share
	shadowMin   int
	window      int
}

type xnode struct {
	key    uint64
	seg    int // 0 window/probation, 1 protected, 2 dead
	pins   int
	hits   int
	parent uint64
	kids   int
	segEl  *list.Element
	lruEl  *list.Element
	newest uint64 // newest child key (for supersede)
}

type xcore struct {
	p        xparams
	capacity int
	m        map[uint64]*xnode
	segs     [3]*list.List // front = most recent
	lru      *list.List
	ghost    map[uint64]int
	ring     []uint64
	head     int
	sketch   [4][]uint8
	adds     int
	filter   bool
	staged   map[uint64]uint64
	window   *list.List
}

func newXcore(p xparams, capacity int) *xcore {
	c := &xcore{p: p, capacity: max(1, capacity), m: map[uint64]*xnode{}, lru: list.New(), ghost: map[uint64]int{}, staged: map[uint64]uint64{}, window: list.New()}
	for i := range c.segs {
		c.segs[i] = list.New()
	}
	if p.ghostFactor > 0 {
		c.ring = make([]uint64, 0, int(p.ghostFactor*float64(c.capacity))+1)
	}
	if p.tinyLFU {
		w := 1
		for w < c.capacity*max(1, p.sketchMul) {
			w *= 2
		}
		for i := range c.sketch {
			c.sketch[i] = make([]uint8, w)
		}
	}
	return c
}

func xmix(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

func (c *xcore) incr(k uint64) {
	h := xmix(k)
	w := uint64(len(c.sketch[0]))
	for i := range c.sketch {
		j := (h >> (16 * i)) & (w - 1)
		if c.sketch[i][j] < 15 {
			c.sketch[i][j]++
		}
	}
	c.adds++
	if c.adds >= 10*c.capacity {
		c.adds /= 2
		for i := range c.sketch {
			for j := range c.sketch[i] {
				c.sketch[i][j] >>= 1
			}
		}
	}
}

func (c *xcore) freq(k uint64) int {
	h := xmix(k)
	w := uint64(len(c.sketch[0]))
	f := 255
	for i := range c.sketch {
		f = min(f, int(c.sketch[i][(h>>(16*i))&(w-1)]))
	}
	return f
}

func (c *xcore) setSeg(n *xnode, s int) {
	if n.segEl != nil {
		if n.seg == 3 {
			c.window.Remove(n.segEl)
		} else {
			c.segs[n.seg].Remove(n.segEl)
		}
	}
	n.seg = s
	if s == 3 {
		n.segEl = c.window.PushFront(n)
	} else {
		n.segEl = c.segs[s].PushFront(n)
	}
}

func (c *xcore) access(n *xnode) {
	c.lru.MoveToFront(n.lruEl)
	if c.p.tinyLFU {
		c.incr(n.key)
	}
}

func (c *xcore) SetParent(k, parent uint64) { c.staged[k] = parent }

func (c *xcore) insert(k uint64, inheritHint int) {
	if n, ok := c.m[k]; ok {
		c.touch(n)
		return
	}
	n := &xnode{key: k, parent: c.staged[k]}
	delete(c.staged, k)
	c.m[k] = n
	n.lruEl = c.lru.PushFront(n)
	if c.p.tinyLFU {
		c.incr(k)
	}
	seg := 0
	if c.p.tinyLFU {
		seg = 3
	}
	if c.p.ghostAdmit && c.ghost[k] > 0 {
		seg = 1
	}
	if p, ok := c.m[n.parent]; ok && n.parent != 0 {
		p.kids++
		if c.p.supersede && p.newest != 0 {
			if old, ok := c.m[p.newest]; ok && old.kids == 0 && old.seg != 1 && old.hits == 0 {
				c.setSeg(old, 2)
			}
		}
		p.newest = k
	}
	if c.p.inherit {
		reused := inheritHint == 1
		if inheritHint < 0 {
			p, ok := c.m[n.parent]
			reused = ok && p.hits > 0
		}
		if reused {
			seg = 1
		}
	}
	c.setSeg(n, seg)
}

func (c *xcore) touch(n *xnode) {
	n.hits++
	c.access(n)
	c.setSeg(n, 1)
}

func (c *xcore) oldest(l *list.List) *xnode {
	for e := l.Back(); e != nil; e = e.Prev() {
		if n := e.Value.(*xnode); n.pins == 0 {
			return n
		}
	}
	return nil
}

func (c *xcore) forget(n *xnode) {
	if n.seg == 3 {
		c.window.Remove(n.segEl)
	} else {
		c.segs[n.seg].Remove(n.segEl)
	}
	c.lru.Remove(n.lruEl)
	delete(c.m, n.key)
	if p, ok := c.m[n.parent]; ok && n.parent != 0 {
		p.kids--
	}
	if c.ring != nil {
		if len(c.ring) == cap(c.ring) {
			old := c.ring[c.head]
			if c.ghost[old]--; c.ghost[old] <= 0 {
				delete(c.ghost, old)
			}
			c.ring[c.head] = n.key
			c.head = (c.head + 1) % len(c.ring)
		} else {
			c.ring = append(c.ring, n.key)
		}
		c.ghost[n.key]++
	}
}

func (c *xcore) evict() (uint64, bool) {
	var v *xnode
	if !c.filter {
		v = c.oldest(c.lru)
	} else {
		if d := c.oldest(c.segs[2]); d != nil {
			v = d
		} else if c.p.tinyLFU && float64(c.window.Len()) > c.p.windowShare*float64(c.capacity) {
			cand := c.oldest(c.window)
			vict := c.oldest(c.segs[0])
			if vict == nil {
				vict = c.oldest(c.segs[1])
			}
			switch {
			case cand == nil:
				v = vict
			case vict == nil:
				v = cand
			case c.freq(cand.key) > c.freq(vict.key):
				v = vict
				c.setSeg(cand, 0)
			default:
				v = cand
			}
		}
		for tries := len(c.m) + 1; v == nil && tries > 0; tries-- {
			if float64(c.segs[0].Len()) > c.p.probShare*float64(c.capacity) || c.segs[1].Len() == 0 {
				if v = c.oldest(c.segs[0]); v != nil {
					break
				}
			}
			p := c.oldest(c.segs[1])
			if p == nil {
				v = c.oldest(c.segs[0])
				if v == nil {
					v = c.oldest(c.window)
				}
				break
			}
			c.setSeg(p, 0)
		}
	}
	if v == nil {
		v = c.oldest(c.lru)
	}
	if v == nil {
		return 0, false
	}
	c.forget(v)
	return v.key, true
}

func (c *xcore) len() int { return len(c.m) }

// shadowAccess is a shadow's whole step.
func (c *xcore) shadowAccess(k uint64, hint int) bool {
	if n, ok := c.m[k]; ok {
		c.touch(n)
		return true
	}
	for c.len() >= c.capacity {
		if _, ok := c.evict(); !ok {
			break
		}
	}
	c.insert(k, hint)
	return false
}

type xpolicy struct {
	c       *xcore
	lr, fl  *xcore
	mask    uint64
	hl, hf  float64
	samples int
}

func newX(p xparams, capacity int) *xpolicy {
	x := &xpolicy{c: newXcore(p, capacity)}
	x.c.filter = true
	if p.duel {
		s := 1
		sm := p.shadowMin
		if sm == 0 {
			sm = 256
		}
		for capacity/(s*2) >= sm {
			s *= 2
		}
		x.mask = uint64(s - 1)
		sc := max(1, capacity/s)
		x.lr, x.fl = newXcore(p, sc), newXcore(p, sc)
		x.fl.filter = true
	}
	return x
}

func (x *xpolicy) Name() string { return "x" }
func (x *xpolicy) sample(k uint64, hint int) {
	if x.lr == nil || xmix(k^0x5bd1e995)&x.mask != 0 {
		return
	}
	if x.lr.shadowAccess(k, hint) {
		x.hl++
	}
	if x.fl.shadowAccess(k, hint) {
		x.hf++
	}
	x.samples++
	w := x.c.p.window
	if w == 0 {
		w = 4096
	}
	if x.samples >= w {
		x.samples = 0
		x.hl /= 2
		x.hf /= 2
	}
	x.c.filter = x.hf > x.hl*(1+x.c.p.margin)
}
func (x *xpolicy) hint(k uint64) int {
	if !x.c.p.inherit {
		return 0
	}
	p, ok := x.c.m[x.c.staged[k]]
	if ok && p.hits > 0 {
		return 1
	}
	return 0
}
func (x *xpolicy) Insert(k uint64) {
	h := x.hint(k)
	x.sample(k, h)
	x.c.insert(k, h)
}
func (x *xpolicy) Touch(k uint64) {
	if n, ok := x.c.m[k]; ok {
		x.sample(k, 0)
		x.c.touch(n)
	}
}
func (x *xpolicy) Contains(k uint64) bool { _, ok := x.c.m[k]; return ok }
func (x *xpolicy) Remove(k uint64) {
	if n, ok := x.c.m[k]; ok {
		x.c.forget(n)
	}
}
func (x *xpolicy) Evict() (uint64, bool) { return x.c.evict() }
func (x *xpolicy) Pin(k uint64) {
	if n, ok := x.c.m[k]; ok {
		n.pins++
	}
}
func (x *xpolicy) Unpin(k uint64) {
	if n, ok := x.c.m[k]; ok && n.pins > 0 {
		n.pins--
	}
}
func (x *xpolicy) Len() int                   { return len(x.c.m) }
func (x *xpolicy) SetParent(k, parent uint64) { x.c.SetParent(k, parent) }

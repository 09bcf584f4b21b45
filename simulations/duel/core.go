package duel

// node is one key in the arena; links are arena indices, 0 is nil.
type node struct {
	key        uint64
	stamp      uint64 // last access, for exact LRU across the two lists
	prev, next int32
	pins       int32
	seg        uint8
}

type list struct {
	head, tail int32 // head is the most recent
	n          int
}

// core is the three-list structure shared by the policy and its shadows.
type core struct {
	nodes    []node // nodes[0] is unused (nil)
	free     []int32
	index    map[uint64]int32
	lists    [4]list
	capacity int
	filter   bool
	clock    uint64
}

func newCore(capacity int, filter bool) core {
	return core{
		nodes:    make([]node, 1, capacity+1),
		index:    make(map[uint64]int32, capacity),
		capacity: capacity,
		filter:   filter,
	}
}

func (c *core) pushFront(s uint8, i int32) {
	n := &c.nodes[i]
	l := &c.lists[s]
	n.seg, n.prev, n.next = s, 0, l.head
	if l.head != 0 {
		c.nodes[l.head].prev = i
	} else {
		l.tail = i
	}
	l.head = i
	l.n++
}

func (c *core) unlink(i int32) {
	n := &c.nodes[i]
	l := &c.lists[n.seg]
	if n.prev != 0 {
		c.nodes[n.prev].next = n.next
	} else {
		l.head = n.next
	}
	if n.next != 0 {
		c.nodes[n.next].prev = n.prev
	} else {
		l.tail = n.prev
	}
	l.n--
	n.seg, n.prev, n.next = segNone, 0, 0
}

func (c *core) alloc(key uint64) int32 {
	var i int32
	if k := len(c.free); k > 0 {
		i = c.free[k-1]
		c.free = c.free[:k-1]
	} else {
		c.nodes = append(c.nodes, node{})
		i = int32(len(c.nodes) - 1)
	}
	c.nodes[i] = node{key: key}
	c.index[key] = i
	return i
}

func (c *core) release(i int32) {
	delete(c.index, c.nodes[i].key)
	c.nodes[i] = node{}
	c.free = append(c.free, i)
}

func (c *core) resident(key uint64) bool {
	i, ok := c.index[key]
	if !ok {
		return false
	}
	s := c.nodes[i].seg
	return s == segProbation || s == segProtected
}

func (c *core) insert(key uint64) {
	c.clock++
	if i, ok := c.index[key]; ok {
		// A ghost hit (seen before) is admitted as frequent; a resident
		// key re-inserted is a touch.
		c.unlink(i)
		c.nodes[i].stamp = c.clock
		c.pushFront(segProtected, i)
		return
	}
	i := c.alloc(key)
	c.nodes[i].stamp = c.clock
	c.pushFront(segProbation, i)
}

func (c *core) touch(key uint64) {
	i, ok := c.index[key]
	if !ok || c.nodes[i].seg == segGhost {
		return
	}
	c.clock++
	c.unlink(i)
	c.nodes[i].stamp = c.clock
	c.pushFront(segProtected, i)
}

func (c *core) remove(key uint64) {
	if i, ok := c.index[key]; ok {
		c.unlink(i)
		c.release(i)
	}
}

func (c *core) pin(key uint64) {
	if i, ok := c.index[key]; ok && c.nodes[i].seg != segGhost {
		c.nodes[i].pins++
	}
}

func (c *core) unpin(key uint64) {
	if i, ok := c.index[key]; ok && c.nodes[i].seg != segGhost && c.nodes[i].pins > 0 {
		c.nodes[i].pins--
	}
}

// oldest returns the least recent unpinned key of list s, or 0.
func (c *core) oldest(s uint8) int32 {
	for i := c.lists[s].tail; i != 0; i = c.nodes[i].prev {
		if c.nodes[i].pins == 0 {
			return i
		}
	}
	return 0
}

func (c *core) evict() (uint64, bool) {
	var v int32
	if c.filter {
		// Each demotion moves one protected key to probation; bounded by
		// the protected count.
		for tries := c.lists[segProtected].n + 1; tries > 0 && v == 0; tries-- {
			if float64(c.lists[segProbation].n) > probationShare*float64(c.capacity) {
				v = c.oldest(segProbation)
				if v != 0 {
					break
				}
			}
			p := c.oldest(segProtected)
			if p == 0 {
				v = c.oldest(segProbation)
				break
			}
			c.unlink(p)
			c.clock++
			c.nodes[p].stamp = c.clock // keeps each list ordered by stamp
			c.pushFront(segProbation, p)
		}
	} else {
		a, b := c.oldest(segProbation), c.oldest(segProtected)
		switch {
		case a == 0:
			v = b
		case b == 0:
			v = a
		case c.nodes[a].stamp < c.nodes[b].stamp:
			v = a
		default:
			v = b
		}
	}
	if v == 0 {
		return 0, false
	}
	key := c.nodes[v].key
	c.unlink(v)
	c.pushFront(segGhost, v)
	for c.lists[segGhost].n > ghostFactor*c.capacity {
		g := c.lists[segGhost].tail
		c.unlink(g)
		c.release(g)
	}
	return key, true
}

// access is a shadow's whole step: hit test, admission and eviction down
// to capacity (shadows hold no pins).
func (c *core) access(key uint64) bool {
	if c.resident(key) {
		c.touch(key)
		return true
	}
	for c.lists[segProbation].n+c.lists[segProtected].n >= c.capacity {
		if _, ok := c.evict(); !ok {
			break
		}
	}
	c.insert(key)
	return false
}

package duel

// node is one resident key in the arena; links are arena indices, 0 is nil.
type node struct {
	key        uint64
	stamp      uint64 // last access, for exact LRU across the two lists
	prev, next int32
	pins       uint16
	seg        uint8
}

type list struct {
	head, tail int32 // head is the most recent
	n          int
}

// core is the structure shared by the policy and its shadows: probation
// and protected lists over a node arena, a key index and a ghost.
type core struct {
	nodes    []node // nodes[0] is unused (nil)
	free     []int32
	idx      index
	lists    [3]list
	ghost    ghost
	capacity int
	filter   bool
	clock    uint64
	// probation is the most keys probation holds in filter mode before its
	// tail goes ahead of protected keys.
	probation float64
}

func newCore(capacity int, filter bool, cfg Config) core {
	return core{
		nodes:     make([]node, 1, capacity+1),
		idx:       newIndex(capacity),
		ghost:     newGhost(cfg.GhostFactor * capacity),
		capacity:  capacity,
		filter:    filter,
		probation: cfg.ProbationShare * float64(capacity),
	}
}

func (c *core) len() int { return c.lists[segProbation].n + c.lists[segProtected].n }

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
	c.idx.put(key, i)
	return i
}

func (c *core) release(i int32) {
	c.idx.del(c.nodes[i].key)
	c.nodes[i] = node{}
	c.free = append(c.free, i)
}

func (c *core) resident(key uint64) bool { return c.idx.get(key) != 0 }

func (c *core) insert(key uint64) {
	c.clock++
	if i := c.idx.get(key); i != 0 {
		// A resident key re-inserted is a touch.
		c.unlink(i)
		c.nodes[i].stamp = c.clock
		c.pushFront(segProtected, i)
		return
	}
	seg := segProbation
	if c.ghost.contains(key) {
		// Evicted recently: seen before, admitted as frequent.
		seg = segProtected
	}
	i := c.alloc(key)
	c.nodes[i].stamp = c.clock
	c.pushFront(seg, i)
}

func (c *core) touch(key uint64) {
	i := c.idx.get(key)
	if i == 0 {
		return
	}
	c.clock++
	c.unlink(i)
	c.nodes[i].stamp = c.clock
	c.pushFront(segProtected, i)
}

func (c *core) remove(key uint64) {
	if i := c.idx.get(key); i != 0 {
		c.unlink(i)
		c.release(i)
	}
}

func (c *core) pin(key uint64) {
	if i := c.idx.get(key); i != 0 && c.nodes[i].pins < ^uint16(0) {
		c.nodes[i].pins++
	}
}

func (c *core) unpin(key uint64) {
	if i := c.idx.get(key); i != 0 && c.nodes[i].pins > 0 {
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
			if float64(c.lists[segProbation].n) > c.probation {
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
	c.release(v)
	c.ghost.add(key)
	return key, true
}

// access is a shadow's whole step: hit test, admission and eviction down
// to capacity (shadows hold no pins).
func (c *core) access(key uint64) bool {
	if c.resident(key) {
		c.touch(key)
		return true
	}
	for c.len() >= c.capacity {
		if _, ok := c.evict(); !ok {
			break
		}
	}
	c.insert(key)
	return false
}

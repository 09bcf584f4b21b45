package eviction

// node is one tracked key. Nodes live in a slice and link to each other by
// int32 positions, so a policy holds no pointers per key (the GC ignores the
// slice's contents). A node is 16 bytes; the colder per-key fields (meta, pins)
// live in parallel slices so that hits of SIEVE and S3-FIFO, which only set
// a bit, touch 4 bytes instead of a node.
//
// Lists are circular through a sentinel node: prev points towards the front
// (newest, most recently used), next towards the back (oldest).
type node struct {
	key  uint64
	prev int32
	next int32
}

// table is the storage every policy shares: the key index, the node slice
// with its free list, per-node meta and pins, and pin accounting.
type table struct {
	idx   keyIndex
	nodes []node
	// meta is policy-specific: a queue id, frequency bits, a visited bit or
	// a frequency-bucket position.
	meta []uint32
	pins []int32
	free int32 // head of the free list (linked through next), -1 if none
	// pinned counts pinned nodes per queue id (0..3); policies with a single
	// queue use pinned[0]. npinned is their sum.
	pinned  [4]int
	npinned int
	// memo remembers the last lookup: the owner's Contains-then-Touch and
	// Contains-then-Insert pairs then probe the index once.
	memoKey  uint64
	memoNode int32
	memoOK   bool
}

func newTable(hint, maxLoad int) table {
	if hint < 0 {
		hint = 0
	}
	return table{
		idx:   newKeyIndex(hint, maxLoad),
		nodes: make([]node, 0, hint+4),
		meta:  make([]uint32, 0, hint+4),
		pins:  make([]int32, 0, hint+4),
		free:  -1,
	}
}

// alloc returns a fresh unlinked node for key, not yet in the index.
func (t *table) alloc(key uint64) int32 {
	var i int32
	if t.free >= 0 {
		i = t.free
		t.free = t.nodes[i].next
	} else {
		i = int32(len(t.nodes))
		t.nodes = append(t.nodes, node{})
		t.meta = append(t.meta, 0)
		t.pins = append(t.pins, 0)
	}
	// meta is the caller's to set; pins are 0 (drop clears them).
	t.nodes[i] = node{key: key, prev: i, next: i}
	return i
}

// get returns the node of key, or -1.
func (t *table) get(key uint64) int32 {
	if t.memoOK && t.memoKey == key {
		return t.memoNode
	}
	i := t.idx.find(key, t.nodes)
	t.memoKey, t.memoNode, t.memoOK = key, i, true
	return i
}

// add allocates a node for key and indexes it; key must be absent.
func (t *table) add(key uint64) int32 {
	i := t.alloc(key)
	t.idx.insert(key, i)
	t.memoKey, t.memoNode, t.memoOK = key, i, true
	return i
}

// release returns node i to the free list; the caller has unlinked it and
// dropped it from the index.
func (t *table) release(i int32) {
	if t.memoNode == i {
		t.memoOK = false
	}
	t.nodes[i] = node{prev: -1, next: t.free}
	t.free = i
}

// drop forgets node i (already unlinked from its list): index, pin count of
// queue q, storage.
func (t *table) drop(i int32, q int) {
	if t.npinned > 0 && t.pins[i] > 0 {
		t.pinned[q]--
		t.npinned--
		t.pins[i] = 0
	}
	t.idx.remove(t.nodes[i].key, i)
	t.release(i)
}

// sentinel allocates a list head that is never indexed.
func (t *table) sentinel() int32 {
	return t.alloc(0)
}

// pushFront links i right after sentinel s (the newest position).
func (t *table) pushFront(s, i int32) {
	nodes := t.nodes
	first := nodes[s].next
	nodes[i].prev = s
	nodes[i].next = first
	nodes[first].prev = i
	nodes[s].next = i
}

// insertAfter links i right behind a (one step older than a).
func (t *table) insertAfter(a, i int32) {
	nodes := t.nodes
	b := nodes[a].next
	nodes[i].prev = a
	nodes[i].next = b
	nodes[b].prev = i
	nodes[a].next = i
}

// unlink takes i out of whatever list holds it.
func (t *table) unlink(i int32) {
	nodes := t.nodes
	p, n := nodes[i].prev, nodes[i].next
	nodes[p].next = n
	nodes[n].prev = p
}

// moveToFront moves i to the newest position of the list of sentinel s.
func (t *table) moveToFront(s, i int32) {
	nodes := t.nodes
	if nodes[s].next == i {
		return
	}
	p, n := nodes[i].prev, nodes[i].next
	nodes[p].next = n
	nodes[n].prev = p
	first := nodes[s].next
	nodes[i].prev = s
	nodes[i].next = first
	nodes[first].prev = i
	nodes[s].next = i
}

// back returns the oldest node of the list of sentinel s (s when empty).
func (t *table) back(s int32) int32 { return t.nodes[s].prev }

// oldestUnpinned walks the list of sentinel s from the back and returns the
// first node without pins, or s when there is none.
func (t *table) oldestUnpinned(s int32) int32 {
	nodes := t.nodes
	i := nodes[s].prev
	if t.npinned == 0 {
		return i
	}
	for i != s && t.pins[i] > 0 {
		i = nodes[i].prev
	}
	return i
}

// pin adds one pin to node i that sits in queue q.
func (t *table) pin(i int32, q int) {
	if t.pins[i] == 0 {
		t.pinned[q]++
		t.npinned++
	}
	t.pins[i]++
}

// unpin removes one pin from node i in queue q; unpinned nodes are left alone.
func (t *table) unpin(i int32, q int) {
	if t.pins[i] == 0 {
		return
	}
	t.pins[i]--
	if t.pins[i] == 0 {
		t.pinned[q]--
		t.npinned--
	}
}

// move transfers node i from queue a to queue b for pin accounting.
func (t *table) move(i int32, a, b int) {
	if a != b && t.npinned > 0 && t.pins[i] > 0 {
		t.pinned[a]--
		t.pinned[b]++
	}
}

// bytes is the memory the table holds: index, nodes, meta and pins.
func (t *table) bytes() int {
	return t.idx.bytes() + cap(t.nodes)*16 + cap(t.meta)*4 + cap(t.pins)*4
}

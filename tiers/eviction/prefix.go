package eviction

// Prefix is the prefix-aware policy for chained KV-cache blocks: a block is
// worth keeping only while its parent (the block holding the tokens before
// it) is kept, so leaves go first. Only keys without cached children are
// candidates, in LRU order among themselves; a parent becomes a candidate
// when its last cached child leaves.
//
// The owner calls SetParent(key, parent) before Insert(key). A key inserted
// without SetParent, or with parent 0, is a root (so key 0 can be a block but
// never a parent). SetParent on a cached key re-parents it. Children may be
// inserted before their parent: the policy counts cached children of absent
// parents and hands the count over when the parent arrives, and a Removed
// parent passes its count back, so the tree stays right in any order.
//
// "LRU among leaves" is exact: each key carries a logical access time, and a
// parent that becomes a leaf is placed by that time (searched from both ends
// of the leaf list; in the usual case, a chain accessed root to leaf, it lands
// near the back and the search is O(1)).
//
// When every leaf is pinned (or the tree has a cycle from bad SetParent
// calls) Evict falls back to the least recently used unpinned inner key, so
// Evict returns ok=false only when every key is pinned, as Policy requires.
// Prefix has no capacity-dependent state.
//
// Staged parents (SetParent before Insert) wait in a small table; staged
// entries whose key is never inserted are dropped once the table grows past
// max(1024, Len) entries.
type Prefix struct {
	t      table
	leaves int32 // sentinel: keys without cached children, newest first
	inner  int32 // sentinel: keys with cached children, newest first
	nLeaf  int
	nInner int
	info   []prefixMeta // parallel to t.nodes
	clock  uint64
	// orphans counts cached children of each absent parent key.
	orphans index
	// staged parents: one fast slot for the SetParent-then-Insert pattern,
	// a map for anything else.
	stageKey    uint64
	stageParent uint64
	staged      bool
	stageMore   map[uint64]uint64
}

type prefixMeta struct {
	parent   uint64 // 0: root
	tick     uint64 // logical time of the last access
	children int32  // cached children
}

const (
	prefixLeaf  = 0
	prefixInner = 1
)

// NewPrefix returns an empty prefix-aware policy presized for about hint
// keys.
func NewPrefix(hint int) *Prefix {
	p := &Prefix{t: newTable(hint, loadFast), stageMore: map[uint64]uint64{}}
	p.leaves = p.t.sentinel()
	p.inner = p.t.sentinel()
	p.syncMeta()
	return p
}

// Name implements Policy.
func (p *Prefix) Name() string { return "prefix" }

// syncMeta grows the parallel metadata slice to the node slice.
func (p *Prefix) syncMeta() {
	for len(p.info) < len(p.t.nodes) {
		p.info = append(p.info, prefixMeta{})
	}
}

func (p *Prefix) now() uint64 {
	p.clock++
	return p.clock
}

// SetParent implements ParentAware.
func (p *Prefix) SetParent(key, parent uint64) {
	if parent == key {
		parent = 0
	}
	if i := p.t.get(key); i >= 0 {
		if p.info[i].parent == parent {
			return
		}
		p.detach(i)
		p.info[i].parent = parent
		p.attach(i)
		return
	}
	if p.staged && p.stageKey != key {
		if len(p.stageMore) >= max(1024, p.Len()) {
			clear(p.stageMore)
		}
		p.stageMore[p.stageKey] = p.stageParent
	}
	if len(p.stageMore) > 0 {
		delete(p.stageMore, key)
	}
	p.stageKey, p.stageParent, p.staged = key, parent, true
}

// takeStaged returns and forgets the staged parent of key (0 if none).
func (p *Prefix) takeStaged(key uint64) uint64 {
	if p.staged && p.stageKey == key {
		p.staged = false
		return p.stageParent
	}
	if len(p.stageMore) == 0 {
		return 0
	}
	parent, ok := p.stageMore[key]
	if ok {
		delete(p.stageMore, key)
	}
	return parent
}

// attach counts node i as a child of its parent.
func (p *Prefix) attach(i int32) {
	parent := p.info[i].parent
	if parent == 0 {
		return
	}
	if j := p.t.get(parent); j >= 0 {
		p.info[j].children++
		if p.info[j].children == 1 {
			p.toInner(j)
		}
		return
	}
	p.orphans.put(parent, max(0, p.orphans.get(parent))+1)
}

// detach uncounts node i from its parent.
func (p *Prefix) detach(i int32) {
	parent := p.info[i].parent
	if parent == 0 {
		return
	}
	if j := p.t.get(parent); j >= 0 {
		p.info[j].children--
		if p.info[j].children == 0 {
			p.toLeaf(j)
		}
		return
	}
	if c := p.orphans.get(parent); c > 1 {
		p.orphans.put(parent, c-1)
	} else {
		p.orphans.del(parent)
	}
}

func (p *Prefix) toInner(j int32) {
	p.t.unlink(j)
	p.nLeaf--
	p.t.move(j, prefixLeaf, prefixInner)
	p.t.meta[j] = prefixInner
	p.insertByTick(p.inner, j)
	p.nInner++
}

func (p *Prefix) toLeaf(j int32) {
	p.t.unlink(j)
	p.nInner--
	p.t.move(j, prefixInner, prefixLeaf)
	p.t.meta[j] = prefixLeaf
	p.insertByTick(p.leaves, j)
	p.nLeaf++
}

// insertByTick links node i into the list of sentinel s, which is ordered by
// tick (newest first), searching from both ends at once.
func (p *Prefix) insertByTick(s, i int32) {
	nodes := p.t.nodes
	t := p.info[i].tick
	back, front := nodes[s].prev, nodes[s].next
	for {
		if back == s || p.info[back].tick > t {
			p.t.insertAfter(back, i)
			return
		}
		if p.info[front].tick < t {
			p.t.insertAfter(nodes[front].prev, i)
			return
		}
		back, front = nodes[back].prev, nodes[front].next
	}
}

// Insert implements Policy.
func (p *Prefix) Insert(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.touch(i)
		return
	}
	parent := p.takeStaged(key)
	i := p.t.add(key)
	p.syncMeta()
	children := int32(0)
	if c := p.orphans.get(key); c > 0 {
		children = c
		p.orphans.del(key)
	}
	p.info[i] = prefixMeta{parent: parent, tick: p.now(), children: children}
	if children > 0 {
		p.t.meta[i] = prefixInner
		p.t.pushFront(p.inner, i)
		p.nInner++
	} else {
		p.t.meta[i] = prefixLeaf
		p.t.pushFront(p.leaves, i)
		p.nLeaf++
	}
	p.attach(i)
}

func (p *Prefix) touch(i int32) {
	p.info[i].tick = p.now()
	if p.t.meta[i] == prefixLeaf {
		p.t.moveToFront(p.leaves, i)
	} else {
		p.t.moveToFront(p.inner, i)
	}
}

// Touch implements Policy.
func (p *Prefix) Touch(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.touch(i)
	}
}

// Contains implements Policy.
func (p *Prefix) Contains(key uint64) bool { return p.t.get(key) >= 0 }

// Remove implements Policy. The children of a removed key stay cached; they
// count as orphans until the key comes back. A parent staged for an absent
// key is dropped too.
func (p *Prefix) Remove(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.forget(i)
	}
	p.takeStaged(key)
}

func (p *Prefix) forget(i int32) {
	p.detach(i)
	children := p.info[i].children
	key := p.t.nodes[i].key
	q := int(p.t.meta[i])
	p.t.unlink(i)
	if q == prefixLeaf {
		p.nLeaf--
	} else {
		p.nInner--
	}
	p.t.drop(i, q)
	p.info[i] = prefixMeta{}
	if children > 0 {
		p.orphans.put(key, children)
	}
}

// Evict implements Policy: the least recently used unpinned leaf, or, when
// every leaf is pinned, the least recently used unpinned inner key.
func (p *Prefix) Evict() (uint64, bool) {
	s := p.leaves
	if p.nLeaf == p.t.pinned[prefixLeaf] {
		if p.nInner == p.t.pinned[prefixInner] {
			return 0, false
		}
		s = p.inner
	}
	i := p.t.oldestUnpinned(s)
	key := p.t.nodes[i].key
	p.forget(i)
	return key, true
}

// Pin implements Policy.
func (p *Prefix) Pin(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.t.pin(i, int(p.t.meta[i]))
	}
}

// Unpin implements Policy.
func (p *Prefix) Unpin(key uint64) {
	if i := p.t.get(key); i >= 0 {
		p.t.unpin(i, int(p.t.meta[i]))
	}
}

// Len implements Policy.
func (p *Prefix) Len() int { return p.nLeaf + p.nInner }

// Children reports how many cached children key has (0 if absent).
func (p *Prefix) Children(key uint64) int {
	if i := p.t.get(key); i >= 0 {
		return int(p.info[i].children)
	}
	return 0
}

// Bytes reports the memory the policy holds for its bookkeeping.
func (p *Prefix) Bytes() int {
	return p.t.bytes() + cap(p.info)*24 + p.orphans.bytes()
}

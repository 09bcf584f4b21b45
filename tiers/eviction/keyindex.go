package eviction

// keyIndex maps the keys of a table's nodes to their node positions with
// open addressing and linear probing, in 8 bytes a slot: the high 32 bits
// hold a hash tag, the low 32 bits the node position plus one (0 marks an
// empty slot). The key itself lives in the node, so a lookup compares tags
// and reads the node only on a tag match, which the caller needs anyway.
//
// The tag is the top of the Fibonacci hash and the slot number is the top of
// the tag, so a slot's home is known without reading its node: growth and
// backward-shift deletion never touch the node slice. No tombstones: probe
// lengths do not degrade under churn. No pointers: the GC never scans it.
type keyIndex struct {
	slots    []uint64
	mask     uint64
	tagShift uint8 // home = tag >> tagShift
	n        int
	// maxLoad is the load limit in eighths. Half-full tables probe less;
	// policies that also index ghosts use 3/4 to stay within their memory
	// budget.
	maxLoad int
	// dense, when set, indexes keys below len(dense) directly (node
	// position plus one; 0: absent), without hashing or probing; larger
	// keys use the slots. For an owner whose keys are small dense
	// integers (the simulator's block ids) and whose cache holds a good
	// share of them, it is both faster and no larger than the slots.
	dense []int32
}

const (
	loadFast    = 4 // 1/2
	loadCompact = 6 // 3/4
)

func newKeyIndex(hint, maxLoad int) keyIndex {
	x := keyIndex{maxLoad: maxLoad}
	size := minIndexSlots
	for size*maxLoad < hint*8 {
		size <<= 1
	}
	x.alloc(size)
	return x
}

func (x *keyIndex) alloc(size int) {
	x.slots = make([]uint64, size)
	x.mask = uint64(size - 1)
	bits := uint8(0)
	for 1<<bits < size {
		bits++
	}
	x.tagShift = 32 - bits
	x.n = 0
}

func keyTag(key uint64) uint64 { return (key * fibMul) >> 32 }

// find returns the node holding key, or -1.
func (x *keyIndex) find(key uint64, nodes []node) int32 {
	if key < uint64(len(x.dense)) {
		return x.dense[key] - 1
	}
	tag := keyTag(key)
	i := tag >> x.tagShift
	for {
		s := x.slots[i]
		if s == 0 {
			return -1
		}
		if s>>32 == tag {
			n := int32(uint32(s)) - 1
			if nodes[n].key == key {
				return n
			}
		}
		i = (i + 1) & x.mask
	}
}

// insert indexes node n under key; key must be absent.
func (x *keyIndex) insert(key uint64, n int32) {
	if key < uint64(len(x.dense)) {
		x.dense[key] = n + 1
		return
	}
	if (x.n+1)*8 > len(x.slots)*x.maxLoad {
		x.grow()
	}
	tag := keyTag(key)
	i := tag >> x.tagShift
	for x.slots[i] != 0 {
		i = (i + 1) & x.mask
	}
	x.slots[i] = tag<<32 | uint64(uint32(n+1))
	x.n++
}

// remove drops the slot of node n, indexed under key.
func (x *keyIndex) remove(key uint64, n int32) {
	if key < uint64(len(x.dense)) {
		if x.dense[key] == n+1 {
			x.dense[key] = 0
		}
		return
	}
	tag := keyTag(key)
	want := tag<<32 | uint64(uint32(n+1))
	i := tag >> x.tagShift
	for {
		s := x.slots[i]
		if s == 0 {
			return
		}
		if s == want {
			break
		}
		i = (i + 1) & x.mask
	}
	j := i
	for {
		j = (j + 1) & x.mask
		s := x.slots[j]
		if s == 0 {
			break
		}
		h := (s >> 32) >> x.tagShift
		if (j-h)&x.mask >= (j-i)&x.mask {
			x.slots[i] = s
			i = j
		}
	}
	x.slots[i] = 0
	x.n--
}

func (x *keyIndex) grow() {
	old := x.slots
	x.alloc(len(old) * 2)
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := (s >> 32) >> x.tagShift
		for x.slots[i] != 0 {
			i = (i + 1) & x.mask
		}
		x.slots[i] = s
		x.n++
	}
}

func (x *keyIndex) bytes() int { return len(x.slots)*8 + len(x.dense)*4 }

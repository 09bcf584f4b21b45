package eviction

// index maps uint64 keys to int32 values with open addressing and linear
// probing; its zero value is an empty index. The policies index their nodes
// with keyIndex; index holds values that are not node positions (the prefix
// policy's child counts of absent parents). Unlike a map[uint64]int32 it
// holds no pointers, so the GC never looks inside.
//
// A slot is empty when its stored value is 0; values are stored plus one, so
// every key including 0 is valid and every value >= 0 is representable.
// Deletion shifts the following cluster back (no tombstones), so probe lengths
// never degrade under churn.
type index struct {
	slots []slot
	mask  uint64
	shift uint8
	n     int
}

type slot struct {
	key uint64
	val int32 // value+1; 0 marks an empty slot
}

const (
	minIndexSlots = 16
	// Fibonacci hashing: the high bits of key*2^64/phi spread clustered and
	// sequential keys evenly over a power-of-two table.
	fibMul = 0x9E3779B97F4A7C15
)

func (x *index) alloc(size int) {
	x.slots = make([]slot, size)
	x.mask = uint64(size - 1)
	bits := uint8(0)
	for 1<<bits < size {
		bits++
	}
	x.shift = 64 - bits
	x.n = 0
}

func (x *index) home(key uint64) uint64 {
	return (key * fibMul) >> x.shift
}

// get returns the value stored for key, or -1.
func (x *index) get(key uint64) int32 {
	if x.slots == nil {
		return -1
	}
	i := x.home(key)
	for {
		s := &x.slots[i]
		if s.val == 0 {
			return -1
		}
		if s.key == key {
			return s.val - 1
		}
		i = (i + 1) & x.mask
	}
}

// put stores key -> v, replacing any value already stored.
func (x *index) put(key uint64, v int32) {
	if x.slots == nil {
		x.alloc(minIndexSlots)
	}
	i := x.home(key)
	for {
		s := &x.slots[i]
		if s.val == 0 {
			break
		}
		if s.key == key {
			s.val = v + 1
			return
		}
		i = (i + 1) & x.mask
	}
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
		x.put(key, v)
		return
	}
	x.slots[i] = slot{key: key, val: v + 1}
	x.n++
}

// del forgets key and reports whether it was present.
func (x *index) del(key uint64) bool {
	if x.slots == nil {
		return false
	}
	i := x.home(key)
	for {
		s := &x.slots[i]
		if s.val == 0 {
			return false
		}
		if s.key == key {
			break
		}
		i = (i + 1) & x.mask
	}
	// Backward-shift deletion: walk the cluster after the hole and move back
	// every entry whose home is not cyclically in (hole, j].
	j := i
	for {
		j = (j + 1) & x.mask
		s := x.slots[j]
		if s.val == 0 {
			break
		}
		h := x.home(s.key)
		if (j-h)&x.mask >= (j-i)&x.mask {
			x.slots[i] = s
			i = j
		}
	}
	x.slots[i] = slot{}
	x.n--
	return true
}

func (x *index) len() int { return x.n }

func (x *index) grow() {
	old := x.slots
	x.alloc(len(old) * 2)
	for _, s := range old {
		if s.val == 0 {
			continue
		}
		i := x.home(s.key)
		for x.slots[i].val != 0 {
			i = (i + 1) & x.mask
		}
		x.slots[i] = s
		x.n++
	}
}

// bytes is the memory the table holds.
func (x *index) bytes() int { return len(x.slots) * 16 }

package duel

// index maps keys to arena positions (> 0) with open addressing, linear
// probing and backward-shift deletion: 12 bytes a slot, no pointers for
// the garbage collector to scan, no tombstones.
type index struct {
	keys  []uint64
	vals  []int32 // 0: empty slot
	mask  uint64
	shift uint8
	n     int
}

const fibMul = 0x9E3779B97F4A7C15

func newIndex(hint int) index {
	var x index
	x.alloc(tableSize(hint))
	return x
}

// tableSize is the power of two holding n entries under a 3/4 load.
func tableSize(n int) int {
	size := 16
	for size*3 < n*4 {
		size <<= 1
	}
	return size
}

func (x *index) alloc(size int) {
	x.keys = make([]uint64, size)
	x.vals = make([]int32, size)
	x.mask = uint64(size - 1)
	x.shift = 64
	for s := size; s > 1; s >>= 1 {
		x.shift--
	}
	x.n = 0
}

func (x *index) home(key uint64) uint64 { return (key * fibMul) >> x.shift }

func (x *index) get(key uint64) int32 {
	for i := x.home(key); ; i = (i + 1) & x.mask {
		v := x.vals[i]
		if v == 0 || x.keys[i] == key {
			return v
		}
	}
}

// put sets key to v (> 0).
func (x *index) put(key uint64, v int32) {
	if (x.n+1)*4 > len(x.vals)*3 {
		x.grow()
	}
	for i := x.home(key); ; i = (i + 1) & x.mask {
		if x.vals[i] == 0 {
			x.keys[i], x.vals[i] = key, v
			x.n++
			return
		}
		if x.keys[i] == key {
			x.vals[i] = v
			return
		}
	}
}

func (x *index) del(key uint64) {
	i := x.home(key)
	for {
		if x.vals[i] == 0 {
			return
		}
		if x.keys[i] == key {
			break
		}
		i = (i + 1) & x.mask
	}
	// Shift back the following entries that would not be found past the
	// hole.
	for j := (i + 1) & x.mask; x.vals[j] != 0; j = (j + 1) & x.mask {
		h := x.home(x.keys[j])
		if (j-h)&x.mask >= (j-i)&x.mask {
			x.keys[i], x.vals[i] = x.keys[j], x.vals[j]
			i = j
		}
	}
	x.keys[i], x.vals[i] = 0, 0
	x.n--
}

func (x *index) grow() {
	keys, vals := x.keys, x.vals
	x.alloc(2 * len(vals))
	for i, v := range vals {
		if v != 0 {
			x.put(keys[i], v)
		}
	}
}

package simulations

// bitset is a dense membership set of block ids.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (s bitset) has(b uint32) bool { return s[b>>6]&(1<<(b&63)) != 0 }
func (s bitset) set(b uint32)      { s[b>>6] |= 1 << (b & 63) }
func (s bitset) clear(b uint32)    { s[b>>6] &^= 1 << (b & 63) }

package placement

import "math/bits"

// XXH64 primes (xxHash specification, https://github.com/Cyan4973/xxHash,
// doc/xxhash_spec.md).
const (
	prime1 uint64 = 11400714785074694791
	prime2 uint64 = 14029467366897019727
	prime3 uint64 = 1609587929392839161
	prime4 uint64 = 9650029242287828579
	prime5 uint64 = 2870177450012600261
)

func xxRound(acc, input uint64) uint64 {
	acc += input * prime2
	acc = bits.RotateLeft64(acc, 31)
	return acc * prime1
}

func xxMerge(acc, val uint64) uint64 {
	acc ^= xxRound(0, val)
	return acc*prime1 + prime4
}

// blockHash is XXH64(seed) of le64(parent) ++ le32(tokens...), computed on
// the words directly instead of through a byte buffer: the stream's i-th
// 8-byte word is parent for i == 0 and tokens[2i-2] | tokens[2i-1]<<32
// after that. It is the same function as BlockHash's definition (tests
// compare it with cespare/xxhash on random inputs) at about twice the speed
// for 16-token blocks.
func blockHash(seed, parent uint64, toks []uint32) uint64 {
	n := 8 + 4*len(toks) // stream length in bytes
	pairs := len(toks) / 2
	var h uint64
	p := 0 // next token pair
	first := true
	if n >= 32 {
		v1 := seed + prime1 + prime2
		v2 := seed + prime2
		v3 := seed
		v4 := seed - prime1
		// First stripe: parent and three token pairs.
		v1 = xxRound(v1, parent)
		v2 = xxRound(v2, uint64(toks[0])|uint64(toks[1])<<32)
		v3 = xxRound(v3, uint64(toks[2])|uint64(toks[3])<<32)
		v4 = xxRound(v4, uint64(toks[4])|uint64(toks[5])<<32)
		p, first = 3, false
		for ; p+4 <= pairs; p += 4 {
			t := toks[2*p : 2*p+8 : 2*p+8]
			v1 = xxRound(v1, uint64(t[0])|uint64(t[1])<<32)
			v2 = xxRound(v2, uint64(t[2])|uint64(t[3])<<32)
			v3 = xxRound(v3, uint64(t[4])|uint64(t[5])<<32)
			v4 = xxRound(v4, uint64(t[6])|uint64(t[7])<<32)
		}
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) + bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		h = xxMerge(h, v1)
		h = xxMerge(h, v2)
		h = xxMerge(h, v3)
		h = xxMerge(h, v4)
	} else {
		h = seed + prime5
	}
	h += uint64(n)
	if first {
		h ^= xxRound(0, parent)
		h = bits.RotateLeft64(h, 27)*prime1 + prime4
	}
	for ; p < pairs; p++ {
		h ^= xxRound(0, uint64(toks[2*p])|uint64(toks[2*p+1])<<32)
		h = bits.RotateLeft64(h, 27)*prime1 + prime4
	}
	if len(toks)%2 == 1 {
		h ^= uint64(toks[len(toks)-1]) * prime1
		h = bits.RotateLeft64(h, 23)*prime2 + prime3
	}
	h ^= h >> 33
	h *= prime2
	h ^= h >> 29
	h *= prime3
	h ^= h >> 32
	return h
}

package holdings

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// Filter is a cache-line-blocked Bloom filter over 64-bit block hashes:
// each key sets K bits within one 512-bit block (8 words, one cache line),
// so a lookup touches one line and hashes nothing (the keys are already
// xxhash64 outputs; docs/clientsdk.md says why it is written here and not
// taken from a library). False positives only, never a false negative
// for a key that was added.
type Filter struct {
	words []uint64 // len a multiple of 8
	k     uint8
	n     uint64 // keys added
}

// Two odd constants re-spread a key's bits for the bit positions (the
// block comes from its high bits).
const (
	mix1 = 0x9e3779b97f4a7c15
	mix2 = 0xc2b2ae3d27d4eb4f
)

// DefaultBitsPerEntry and DefaultK: 16 bits per held block, 8 bits set in
// its block (measured in docs/BENCHMARKS.md: the false-positive rate they
// give, and what it does to prefix scores).
const (
	DefaultBitsPerEntry = 16
	DefaultK            = 8
	maxK                = 14 // 9 bits each from two 64-bit mixes
)

// NewFilter sizes a filter for n keys at bitsPerEntry bits each (at least
// one block), k bits per key (1-14).
func NewFilter(n, bitsPerEntry, k int) (*Filter, error) {
	if n < 0 || bitsPerEntry < 1 || bitsPerEntry > 64 || k < 1 || k > maxK {
		return nil, fmt.Errorf("%w: filter of %d keys, %d bits each, k %d", ErrMalformed, n, bitsPerEntry, k)
	}
	blocks := max((n*bitsPerEntry+511)/512, 1)
	return &Filter{words: make([]uint64, 8*blocks), k: uint8(k)}, nil
}

// block is h's 512-bit block.
func (f *Filter) block(h uint64) []uint64 {
	hi, _ := bits.Mul64(h, uint64(len(f.words)/8))
	return f.words[hi*8 : hi*8+8 : hi*8+8]
}

// Add sets h's bits.
func (f *Filter) Add(h uint64) {
	b := f.block(h)
	x, y := h*mix1, h*mix2
	for i := uint8(0); i < f.k; i++ {
		if i == 7 {
			x = y
		}
		b[(x>>6)&7] |= 1 << (x & 63)
		x >>= 9
	}
	f.n++
}

// Contains reports whether h may have been added (false: it was not).
func (f *Filter) Contains(h uint64) bool {
	b := f.block(h)
	x, y := h*mix1, h*mix2
	for i := uint8(0); i < f.k; i++ {
		if i == 7 {
			x = y
		}
		if b[(x>>6)&7]&(1<<(x&63)) == 0 {
			return false
		}
		x >>= 9
	}
	return true
}

// Len is the number of keys added; Bits the filter's size in bits.
func (f *Filter) Len() uint64 { return f.n }
func (f *Filter) Bits() int   { return len(f.words) * 64 }

// Layout: version(1)=2 k(1) n(uvarint) words(uvarint) words x 8 LE.
const filterVersion = 2

// AppendTo appends the filter's encoding to b.
func (f *Filter) AppendTo(b []byte) []byte {
	b = append(b, filterVersion, f.k)
	b = binary.AppendUvarint(b, f.n)
	b = binary.AppendUvarint(b, uint64(len(f.words)))
	for _, w := range f.words {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	return b
}

// DecodeFilter decodes a filter (its words are copied out of b).
func DecodeFilter(b []byte) (*Filter, error) {
	bad := func(what string) (*Filter, error) { return nil, fmt.Errorf("%w: filter %s", ErrMalformed, what) }
	if len(b) < 2 || b[0] != filterVersion || b[1] < 1 || b[1] > maxK {
		return bad("version or k")
	}
	f := &Filter{k: b[1]}
	b = b[2:]
	n, l := binary.Uvarint(b)
	if l <= 0 {
		return bad("count")
	}
	b = b[l:]
	w, l := binary.Uvarint(b)
	if l <= 0 || w == 0 || w%8 != 0 || w != uint64(len(b)-l)/8 || uint64(len(b)-l)%8 != 0 {
		return bad("words")
	}
	b = b[l:]
	f.n = n
	f.words = make([]uint64, w)
	for i := range f.words {
		f.words[i] = binary.LittleEndian.Uint64(b[i*8:])
	}
	return f, nil
}

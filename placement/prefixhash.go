package placement

import (
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// ErrBlockSize is returned for a block size other than a positive number of tokens.
var ErrBlockSize = errors.New("placement: block size must be positive")

// ModelSeed is the per-model seed of the chained prefix hash:
// xxhash64 (seed 0) of the model name's bytes, then for each extra key a 0x00
// byte followed by the extra key's bytes (a LoRA name, a tenant salt). Two
// engines that agree on model and extras agree on every block hash.
// docs/hashing.md spells this out with test vectors.
func ModelSeed(model string, extra ...string) uint64 {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(model)
	for _, e := range extra {
		_, _ = d.Write([]byte{0})
		_, _ = d.WriteString(e)
	}
	return d.Sum64()
}

// BlockHash is one link of the chain: xxhash64 seeded with seed over the
// parent hash as 8 little-endian bytes followed by each token id as 4
// little-endian bytes. The first block's parent is 0.
func BlockHash(seed, parent uint64, tokens []uint32) uint64 {
	return blockHash(seed, parent, tokens)
}

// PrefixHashes appends to dst the chained hash of every block of tokens and
// returns it. With partial false, a trailing block shorter than blockSize is
// not hashed (it cannot be shared yet); with partial true it is
// (save_partial_chunks).
func PrefixHashes(dst []uint64, seed uint64, tokens []uint32, blockSize int, partial bool) ([]uint64, error) {
	if blockSize <= 0 {
		return dst, fmt.Errorf("%w: %d", ErrBlockSize, blockSize)
	}
	var parent uint64
	for i := 0; i < len(tokens); i += blockSize {
		end := i + blockSize
		if end > len(tokens) {
			if !partial {
				break
			}
			end = len(tokens)
		}
		parent = BlockHash(seed, parent, tokens[i:end])
		dst = append(dst, parent)
	}
	return dst, nil
}

package clientsdk

import (
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/placement"
)

// ErrHashConfig: a HashConfig the hasher cannot use.
var ErrHashConfig = errors.New("clientsdk: bad hash config")

// HashConfig says how an engine names its KV chunks; router and engine
// must agree on every field (docs/hashing.md).
type HashConfig struct {
	// Scheme names the prefix hash: "" or "stratacache" (the chained
	// xxhash64 of docs/hashing.md), the only one the Hasher computes.
	Scheme string
	// Model and Extra (a LoRA name, a tenant salt) seed the chain
	// (placement.ModelSeed) and end up in the chunk keys.
	Model string
	Extra []string
	// BlockSizes are the granularities the cluster stores, in tokens (16,
	// 256, 512: an engine's paged blocks and LMCache-style chunks). Default
	// {16}.
	BlockSizes []int
	// Partial hashes a trailing short block (save_partial_chunks).
	Partial bool
	// Layers is the layer part of the chunk keys the index looks up
	// (default artifact.AllLayers; an engine that stores per layer is
	// looked up by its first layer's key).
	Layers artifact.Layers
}

// Hasher computes the chained prefix hash of prompts (placement.ModelSeed /
// placement.PrefixHashes: one implementation, shared with the engines) and
// the artifact ids of the KV chunks they name. Safe for concurrent use.
type Hasher struct {
	cfg    HashConfig
	seed   uint64
	head   int    // bytes before the 16 hex digits in key
	key    []byte // namespace byte + "<model>@" + 16 hex + "/<layers>[#extra]..."
	levels []int
}

// NewHasher validates cfg.
func NewHasher(cfg HashConfig) (*Hasher, error) {
	if cfg.scheme() != SchemeStrataCache {
		return nil, fmt.Errorf("%w: hash scheme %q (the Hasher computes %q)", ErrHashConfig, cfg.Scheme, SchemeStrataCache)
	}
	if len(cfg.BlockSizes) == 0 {
		cfg.BlockSizes = []int{defaultBlockSize}
	}
	for _, b := range cfg.BlockSizes {
		if b <= 0 {
			return nil, fmt.Errorf("%w: block size %d", ErrHashConfig, b)
		}
	}
	if !cfg.Layers.All && cfg.Layers == (artifact.Layers{}) {
		cfg.Layers = artifact.AllLayers
	}
	k, err := artifact.KVKey{Model: cfg.Model, Layers: cfg.Layers, Extra: cfg.Extra}.AppendKey([]byte{byte(artifact.NamespaceKV)})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHashConfig, err)
	}
	h := &Hasher{cfg: cfg, seed: placement.ModelSeed(cfg.Model, cfg.Extra...), head: 1 + len(cfg.Model) + 1, key: k,
		levels: append([]int(nil), cfg.BlockSizes...)}
	return h, nil
}

// Seed is the model seed of the chain.
func (h *Hasher) Seed() uint64 { return h.seed }

// PrefixHashes appends the chained hashes of tokens at one block size
// (placement.PrefixHashes with this hasher's seed and partial setting).
func (h *Hasher) PrefixHashes(dst []uint64, tokens []uint32, blockSize int) ([]uint64, error) {
	return placement.PrefixHashes(dst, h.seed, tokens, blockSize, h.cfg.Partial)
}

// ChunkID is the artifact id of the KV chunk whose prefix hash is ph (the
// key engines store it under: artifact.KVKey with this hasher's model,
// layers and extras).
func (h *Hasher) ChunkID(ph uint64) (artifact.ID, error) {
	return artifact.KVKey{Model: h.cfg.Model, PrefixHash: ph, Layers: h.cfg.Layers, Extra: h.cfg.Extra}.ID()
}

const hexDigits = "0123456789abcdef"

// hexPairs[b] is byte b as two lower-case hex digits.
var hexPairs = func() (t [256][2]byte) {
	for i := range t {
		t[i] = [2]byte{hexDigits[i>>4], hexDigits[i&0xf]}
	}
	return t
}()

// idHash is ChunkID(ph).Hash without building the key on the heap: the
// key template is fixed, only its 16 hex digits change.
func (h *Hasher) idHash(buf []byte, ph uint64) uint64 {
	d := (*[16]byte)(buf[h.head : h.head+16])
	for i := 7; i >= 0; i-- {
		p := hexPairs[byte(ph)]
		d[2*i], d[2*i+1] = p[0], p[1]
		ph >>= 8
	}
	return xxhash.Sum64(buf)
}

// Level is one block size's view of a prompt.
type Level struct {
	BlockSize int
	// Hashes are the chained prefix hashes, one per block.
	Hashes []uint64
	// IDs are the artifact id hashes of the chunks, one per block: what
	// the ownership directory is keyed by.
	IDs []uint64
	// LastTokens is the length of the last block (short when partial).
	LastTokens int
}

// Prompt is a tokenised prompt hashed at every configured block size.
// Reuse one per goroutine: Hash overwrites it without allocating once its
// slices have grown.
type Prompt struct {
	Tokens int
	Levels []Level
	buf    []byte
}

// Hash fills p with tokens' block hashes and chunk ids at every block size.
func (h *Hasher) Hash(p *Prompt, tokens []uint32) error {
	p.Tokens = len(tokens)
	if cap(p.Levels) < len(h.levels) {
		p.Levels = make([]Level, len(h.levels))
	}
	p.Levels = p.Levels[:len(h.levels)]
	p.buf = append(p.buf[:0], h.key...)
	for li, bs := range h.levels {
		lv := &p.Levels[li]
		lv.BlockSize = bs
		var err error
		lv.Hashes, err = h.PrefixHashes(lv.Hashes[:0], tokens, bs)
		if err != nil {
			return err
		}
		if cap(lv.IDs) < len(lv.Hashes) {
			lv.IDs = make([]uint64, len(lv.Hashes), cap(lv.Hashes))
		}
		lv.IDs = lv.IDs[:len(lv.Hashes)]
		for i, ph := range lv.Hashes {
			lv.IDs[i] = h.idHash(p.buf, ph)
		}
		lv.LastTokens = 0
		if n := len(lv.Hashes); n > 0 {
			lv.LastTokens = len(tokens) - (n-1)*bs
			if lv.LastTokens > bs {
				lv.LastTokens = bs
			}
		}
	}
	return nil
}

// blockTokens is the token count of block i of lv.
func (lv *Level) blockTokens(i int) int {
	if i == len(lv.Hashes)-1 {
		return lv.LastTokens
	}
	return lv.BlockSize
}

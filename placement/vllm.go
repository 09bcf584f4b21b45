package placement

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Scheme names, as config, CLI flags and docs/hashing.md spell them.
const (
	// SchemeStrataCache is the chained xxhash64 prefix hash (prefixhash.go).
	SchemeStrataCache = "stratacache"
	// SchemeVLLM is vLLM v1's sha256_cbor block hash (this file).
	SchemeVLLM = "vllm"
)

// ErrScheme is returned for a hash scheme name other than "stratacache" or "vllm".
var ErrScheme = errors.New("placement: unknown hash scheme")

// ErrHashSeed is returned by the vllm scheme when no hash seed is given:
// vLLM itself then draws a random first parent per process (os.urandom),
// which no router can reproduce.
var ErrHashSeed = errors.New("placement: the vllm hash scheme needs a hash seed (the PYTHONHASHSEED every vLLM pod runs with)")

// CheckScheme validates a scheme name.
func CheckScheme(name string) error {
	switch name {
	case SchemeStrataCache, SchemeVLLM:
		return nil
	}
	return fmt.Errorf("%w %q (want %q or %q)", ErrScheme, name, SchemeStrataCache, SchemeVLLM)
}

// VLLMHash is one block hash of vLLM's sha256_cbor scheme: the 32-byte
// sha256 digest.
type VLLMHash [32]byte

// U64 is the hash's int form, as vLLM publishes it in KV events with
// VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=1: the low 64 bits of the digest
// read as a big-endian integer (its last 8 bytes, big-endian).
func (h VLLMHash) U64() uint64 { return binary.BigEndian.Uint64(h[24:]) }

// VLLMMM is one multimodal input of a prompt, as vLLM's block hash sees
// it: its identifier (the mm hash) and the token span it occupies.
type VLLMMM struct {
	Identifier string `json:"identifier"`
	Offset     int    `json:"offset"`
	Length     int    `json:"length"`
}

// VLLMExtras are the request properties that vLLM folds into block hashes
// as extra keys (vllm/v1/core/kv_cache_utils.py,
// generate_block_hash_extra_keys): the LoRA adapter's name on every block,
// the multimodal inputs a block overlaps, the cache salt on the first
// block only. The zero value means none: every block's extra keys are None.
type VLLMExtras struct {
	LoRAName  string   `json:"lora_name,omitempty"`
	CacheSalt string   `json:"cache_salt,omitempty"`
	MM        []VLLMMM `json:"mm,omitempty"`
}

// BlockKeys returns the extra keys of the block covering tokens
// [start, end), in vLLM's order: LoRA name, then one (identifier, offset
// relative to the block start) pair per multimodal input the block
// overlaps, then the cache salt when start is 0. nil when there are none
// (CBOR null). Prompt-embedding hashes, the fourth kind, need the
// embeddings themselves and are not supported.
func (x *VLLMExtras) BlockKeys(start, end int) []any {
	var keys []any
	if x.LoRAName != "" {
		keys = append(keys, x.LoRAName)
	}
	for _, m := range x.MM {
		// vLLM walks the inputs sorted by offset and includes every one
		// whose span [offset, offset+length) meets the block.
		if end > m.Offset && start < m.Offset+m.Length {
			keys = append(keys, []any{m.Identifier, m.Offset - start})
		}
	}
	if start == 0 && x.CacheSalt != "" {
		keys = append(keys, x.CacheSalt)
	}
	return keys
}

// VLLMHasher computes vLLM v1's block hashes with --prefix-caching-hash-algo
// sha256_cbor (vllm/utils/hashing.py sha256_cbor, vllm/v1/core/
// kv_cache_utils.py hash_block_tokens and init_none_hash):
//
//	none     = sha256(cbor(hash_seed))            the PYTHONHASHSEED string
//	h[i]     = sha256(cbor([h[i-1] or none, [t0, t1, ...], extra_keys or null]))
//
// where cbor is canonical CBOR (RFC 8949 core deterministic / cbor2
// canonical=True): h[i-1] a byte string, the tokens an array of unsigned
// integers, extra_keys an array or null. Only full blocks are hashed.
// Safe for concurrent use.
type VLLMHasher struct {
	seed string
	none VLLMHash
	enc  cbor.UserBufferEncMode
	bufs sync.Pool // *bytes.Buffer, one block's encoding
}

// vllmBlock is the hashed tuple (parent, tokens, extra keys), encoded as a
// 3-element CBOR array.
type vllmBlock struct {
	_      struct{} `cbor:",toarray"`
	Parent []byte
	Tokens []uint32
	Extra  []any
}

// NewVLLMHasher returns the hasher of pods that run with
// PYTHONHASHSEED=hashSeed.
func NewVLLMHasher(hashSeed string) (*VLLMHasher, error) {
	if hashSeed == "" {
		return nil, ErrHashSeed
	}
	enc, err := cbor.CanonicalEncOptions().UserBufferEncMode()
	if err != nil {
		return nil, fmt.Errorf("placement: cbor: %w", err)
	}
	h := &VLLMHasher{seed: hashSeed, enc: enc}
	b, err := enc.Marshal(hashSeed)
	if err != nil {
		return nil, fmt.Errorf("placement: cbor: %w", err)
	}
	h.none = sha256.Sum256(b)
	return h, nil
}

// Seed is the hash seed (PYTHONHASHSEED) the hasher was made with.
func (h *VLLMHasher) Seed() string { return h.seed }

// NoneHash is vLLM's NONE_HASH: the parent of every prompt's first block.
func (h *VLLMHasher) NoneHash() VLLMHash { return h.none }

// BlockHash hashes one block whose parent hash is parent (nil: the first
// block, whose parent is NoneHash) with the given extra keys (nil: None).
// Extra keys hold strings, integers and nested []any (what BlockKeys
// returns).
func (h *VLLMHasher) BlockHash(parent *VLLMHash, tokens []uint32, extra []any) (VLLMHash, error) {
	p := h.none
	if parent != nil {
		p = *parent
	}
	buf, _ := h.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer h.bufs.Put(buf)
	buf.Reset()
	if err := h.enc.MarshalToBuffer(vllmBlock{Parent: p[:], Tokens: tokens, Extra: extra}, buf); err != nil {
		return VLLMHash{}, fmt.Errorf("placement: cbor of a block: %w", err)
	}
	return sha256.Sum256(buf.Bytes()), nil
}

// PrefixHashes appends to dst the hash of every full block of tokens
// (blockSize tokens each; a trailing short block is not hashed, as in
// vLLM) with the extra keys x derives per block (nil: none).
func (h *VLLMHasher) PrefixHashes(dst []VLLMHash, tokens []uint32, blockSize int, x *VLLMExtras) ([]VLLMHash, error) {
	if blockSize <= 0 {
		return dst, fmt.Errorf("%w: %d", ErrBlockSize, blockSize)
	}
	var parent *VLLMHash
	for start := 0; start+blockSize <= len(tokens); start += blockSize {
		var extra []any
		if x != nil {
			extra = x.BlockKeys(start, start+blockSize)
		}
		bh, err := h.BlockHash(parent, tokens[start:start+blockSize], extra)
		if err != nil {
			return dst, err
		}
		dst = append(dst, bh)
		parent = &dst[len(dst)-1]
	}
	return dst, nil
}

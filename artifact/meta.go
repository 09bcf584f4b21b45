package artifact

import (
	"time"

	"github.com/cespare/xxhash/v2"
)

// DType is the element type of a tensor payload (the tensor codec's dtype).
type DType uint8

// The dtypes a KV or parameter chunk may carry. DTypeNone marks an opaque blob.
const (
	DTypeNone DType = iota
	DTypeF32
	DTypeF16
	DTypeBF16
	DTypeF8E4M3
	DTypeF8E5M2
	DTypeI8
	DTypeU8
	DTypeI32
)

// Meta is the metadata kept beside every payload.
type Meta struct {
	// Length is the payload length in bytes.
	Length int64
	// Checksum is the xxhash64 of the payload.
	Checksum uint64
	// DType and Shape describe a tensor payload; zero for blobs.
	DType DType
	Shape []int64
	// Created and Accessed are unix nanoseconds.
	Created  int64
	Accessed int64
	// Pins counts holders that forbid eviction.
	Pins int32
	// TTL, when positive, bounds the artifact's life from Created.
	TTL time.Duration
	// Epoch is the owner node's incarnation epoch (0 when local-only).
	Epoch uint64
	// Version orders the stores of one key on a node: every store gets a
	// version higher than any the node issued before (across restarts), and
	// copies between tiers (promote, demote, flush) carry the version they
	// copy, so a tier can refuse a copy older than what it holds. 0 means
	// unversioned (a direct tier user).
	Version uint64
}

// Checksum is the payload checksum used everywhere in StrataCache.
func Checksum(payload []byte) uint64 { return xxhash.Sum64(payload) }

// Expired reports whether the artifact's TTL has passed at now (unix ns).
func (m *Meta) Expired(now int64) bool {
	return m.TTL > 0 && now-m.Created >= int64(m.TTL)
}

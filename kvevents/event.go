package kvevents

import (
	"encoding/binary"
	"strings"
)

// Kind is the type of a KV cache event.
type Kind uint8

// The event types of vllm/distributed/kv_events.py.
const (
	KindUnknown Kind = iota
	// BlockStored: full blocks entered a medium of the pod.
	BlockStored
	// BlockRemoved: blocks left a medium.
	BlockRemoved
	// AllBlocksCleared: the pod dropped its whole prefix cache.
	AllBlocksCleared
)

var kindNames = [...]string{"", "BlockStored", "BlockRemoved", "AllBlocksCleared"}

// String is the event's msgpack tag.
func (k Kind) String() string {
	if int(k) < len(kindNames) && k != KindUnknown {
		return kindNames[k]
	}
	return "unknown"
}

func kindOf(tag string) Kind {
	for k, n := range kindNames {
		if n != "" && n == tag {
			return Kind(k)
		}
	}
	return KindUnknown
}

// Event is one KV cache event. Block hashes are held in their 64-bit int
// form (placement.VLLMHash.U64): an event that carries 32-byte digests is
// reduced on decode to the digest's last 8 bytes read big-endian, which is
// what vLLM publishes with VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=1, so both
// forms index alike.
type Event struct {
	Kind Kind
	// BlockHashes: BlockStored, BlockRemoved.
	BlockHashes []uint64
	// ParentBlockHash is valid when HasParent (BlockStored).
	ParentBlockHash uint64
	HasParent       bool
	// TokenIDs, BlockSize, LoRAID (HasLoRAID), LoRAName: BlockStored.
	TokenIDs  []uint32
	BlockSize int
	LoRAID    int64
	HasLoRAID bool
	LoRAName  string
	// Medium: "GPU" (vLLM's own cache, also when the event has none),
	// "CPU", "DISK", "CXL" ... upper-cased.
	Medium string
}

// Batch is an EventBatch: a publish timestamp (seconds since the epoch),
// the events in order, and the data-parallel rank of the publisher.
type Batch struct {
	TS        float64
	Events    []Event
	DPRank    int64
	HasDPRank bool
}

// MediumGPU is what vLLM calls its GPU cache (MEDIUM_GPU); an event
// without a medium means it.
const MediumGPU = "GPU"

// normMedium upper-cases a medium name; empty means GPU.
func normMedium(m string) string {
	if m == "" {
		return MediumGPU
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c >= 'a' && c <= 'z' {
			return strings.ToUpper(m)
		}
	}
	return m
}

// hashOfBytes is the int form of a block hash sent as bytes: the last 8
// bytes read big-endian (int.from_bytes(h, "big") & (2**64-1)).
func hashOfBytes(b []byte) uint64 {
	if len(b) >= 8 {
		return binary.BigEndian.Uint64(b[len(b)-8:])
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

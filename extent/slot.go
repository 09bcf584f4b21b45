package extent

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// SlotSize is the encoded size of an index slot. Slots are small and fixed so
// that rebuilding the index on open is one sequential read of the table.
const SlotSize = 64

// slotCommit marks a live slot; a free slot has zero in its first word.
const slotCommit uint32 = 0x4c534353 // "SCSL"

// Slot is one entry of the persistent index: it points at an extent and
// repeats what is needed to serve it without reading the extent header
// first. It is written last when an artifact is stored (its publication) and
// cleared first when the artifact is removed.
//
// Format 2 keeps the artifact's version where format 1 kept the extent
// length, which is derived: the header and payload rounded up to a block.
type Slot struct {
	HeaderLen  uint32 // bytes of the extent header; the payload follows it
	Generation uint64 // unique per store; the extent header repeats it
	KeyHash    uint64 // artifact.ID.Hash
	Offset     uint64 // extent offset from the start of the medium
	Version    uint64 // the artifact's version (artifact.Meta.Version)
	Length     uint64 // payload bytes
	Checksum   uint64 // xxhash64 of the payload
	// ExtentLen is not stored: Encode ignores it and DecodeSlot derives it
	// (header + payload rounded up to the block size).
	ExtentLen uint64
}

// Encode writes s into dst[:SlotSize].
func (s *Slot) Encode(dst []byte) {
	dst = dst[:SlotSize]
	le := binary.LittleEndian
	le.PutUint32(dst[0:], slotCommit)
	le.PutUint32(dst[4:], s.HeaderLen)
	le.PutUint64(dst[8:], s.Generation)
	le.PutUint64(dst[16:], s.KeyHash)
	le.PutUint64(dst[24:], s.Offset)
	le.PutUint64(dst[32:], s.Version)
	le.PutUint64(dst[40:], s.Length)
	le.PutUint64(dst[48:], s.Checksum)
	le.PutUint64(dst[56:], xxhash.Sum64(dst[:56]))
}

// SlotLive reports whether src holds a committed record (its checksum is
// checked by DecodeSlot).
func SlotLive(src []byte) bool {
	return binary.LittleEndian.Uint32(src) == slotCommit
}

// DecodeSlot parses a live slot, checking its checksum and that the extent
// it names lies inside g's data area.
func DecodeSlot(src []byte, g Geometry) (Slot, error) {
	src = src[:SlotSize]
	le := binary.LittleEndian
	if le.Uint32(src) != slotCommit {
		return Slot{}, fmt.Errorf("%w: slot not committed", ErrBadRecord)
	}
	if got, sum := le.Uint64(src[56:]), xxhash.Sum64(src[:56]); got != sum {
		return Slot{}, fmt.Errorf("%w: slot checksum", ErrBadRecord)
	}
	s := Slot{
		HeaderLen:  le.Uint32(src[4:]),
		Generation: le.Uint64(src[8:]),
		KeyHash:    le.Uint64(src[16:]),
		Offset:     le.Uint64(src[24:]),
		Version:    le.Uint64(src[32:]),
		Length:     le.Uint64(src[40:]),
		Checksum:   le.Uint64(src[48:]),
	}
	bs := uint64(g.BlockSize)
	end := g.DataOff + g.DataSize
	if s.Length > g.DataSize {
		return Slot{}, fmt.Errorf("%w: slot out of bounds", ErrBadRecord)
	}
	s.ExtentLen = roundUp(uint64(s.HeaderLen)+s.Length, bs)
	if s.Offset < g.DataOff || s.Offset%bs != 0 || s.ExtentLen == 0 || s.ExtentLen%bs != 0 ||
		s.ExtentLen > end-s.Offset || uint64(s.HeaderLen) < headerFixed ||
		s.Length > s.ExtentLen-uint64(s.HeaderLen) || s.Generation == 0 {
		return Slot{}, fmt.Errorf("%w: slot out of bounds", ErrBadRecord)
	}
	return s, nil
}

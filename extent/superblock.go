package extent

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// Version is the on-media format version this code writes and reads.
// Format 2 added versions to the slots and the leases and flags to the
// superblock; a format 1 medium is refused (reset it).
const Version = 2

// FlagFailed marks a pool whose owner hit an unrecoverable write or sync
// error: what it holds may be older than what was acknowledged, so it is
// not opened again unless reset.
const FlagFailed uint64 = 1

// SuperblockSize is the space reserved for the superblock at offset 0; the
// slot table starts right after it.
const SuperblockSize = 4096

// superblockLen is the encoded length (the rest of the 4 KiB is zero).
const superblockLen = 96

// Magic identifies the kind of pool; each tier has its own.
type Magic [8]byte

// Geometry is the layout of a pool: where the slot table and data area are.
type Geometry struct {
	BlockSize uint32 // allocation unit of the data area (power of two)
	SlotCount uint64 // number of index slots
	DataOff   uint64 // start of the data area (BlockSize aligned)
	DataSize  uint64 // bytes of the data area (multiple of BlockSize)
}

// TableOff is the offset of the slot table.
func (Geometry) TableOff() uint64 { return SuperblockSize }

// TotalSize is the bytes the pool occupies on its medium.
func (g Geometry) TotalSize() uint64 { return g.DataOff + g.DataSize }

// NewGeometry lays out a pool of dataSize bytes of data and slots index
// slots; dataAlign (a multiple of blockSize) aligns the data area (2 MiB on a
// DAX device so extents can live on huge pages).
func NewGeometry(blockSize uint32, slots, dataSize, dataAlign uint64) (Geometry, error) {
	if blockSize == 0 || blockSize&(blockSize-1) != 0 {
		return Geometry{}, fmt.Errorf("%w: block size %d is not a power of two", ErrGeometry, blockSize)
	}
	if slots == 0 {
		return Geometry{}, fmt.Errorf("%w: zero slots", ErrGeometry)
	}
	if dataAlign < uint64(blockSize) {
		dataAlign = uint64(blockSize)
	}
	dataSize -= dataSize % uint64(blockSize)
	if dataSize == 0 {
		return Geometry{}, fmt.Errorf("%w: data area smaller than one block of %d bytes", ErrTooSmall, blockSize)
	}
	off := roundUp(SuperblockSize+slots*SlotSize, dataAlign)
	return Geometry{BlockSize: blockSize, SlotCount: slots, DataOff: off, DataSize: dataSize}, nil
}

// FitGeometry lays out a pool that fills a medium of total bytes.
func FitGeometry(blockSize uint32, slots, total, dataAlign uint64) (Geometry, error) {
	g, err := NewGeometry(blockSize, slots, uint64(blockSize), dataAlign)
	if err != nil {
		return Geometry{}, err
	}
	if total < g.DataOff+uint64(blockSize) {
		return Geometry{}, fmt.Errorf("%w: %d bytes cannot hold %d slots and one block", ErrTooSmall, total, slots)
	}
	return NewGeometry(blockSize, slots, total-g.DataOff, dataAlign)
}

func roundUp(n, a uint64) uint64 { return (n + a - 1) / a * a }

// Superblock is the first record of a pool.
type Superblock struct {
	Magic    Magic
	Version  uint32
	Geometry Geometry
	// Epoch counts read-write opens; it seeds nothing but tells logs and
	// peers that the pool restarted.
	Epoch uint64
	// Created is the unix-nanosecond time the pool was formatted.
	Created int64
	// GenLease is above every extent generation ever handed out: the next
	// open starts there, so a generation is never reused (a read-only
	// attacher holding an old location cannot mistake a reused extent).
	GenLease uint64
	// VerLease is at least every artifact version the pool was ever given,
	// deleted artifacts included: the chain starts its versions above it.
	VerLease uint64
	// Flags: FlagFailed.
	Flags uint64
}

// Encode writes the superblock into dst (at least SuperblockSize bytes; the
// tail is zeroed).
func (s *Superblock) Encode(dst []byte) {
	dst = dst[:SuperblockSize]
	clear(dst)
	copy(dst[0:8], s.Magic[:])
	le := binary.LittleEndian
	le.PutUint32(dst[8:], s.Version)
	le.PutUint32(dst[12:], s.Geometry.BlockSize)
	le.PutUint64(dst[16:], s.Geometry.SlotCount)
	le.PutUint64(dst[24:], s.Geometry.DataOff)
	le.PutUint64(dst[32:], s.Geometry.DataSize)
	le.PutUint64(dst[40:], s.Epoch)
	le.PutUint64(dst[48:], uint64(s.Created))
	le.PutUint64(dst[56:], s.GenLease)
	le.PutUint64(dst[64:], s.VerLease)
	le.PutUint64(dst[72:], s.Flags)
	le.PutUint64(dst[superblockLen-8:], xxhash.Sum64(dst[:superblockLen-8]))
}

// DecodeSuperblock parses and validates a superblock of the given magic.
func DecodeSuperblock(src []byte, want Magic) (Superblock, error) {
	if len(src) < superblockLen {
		return Superblock{}, fmt.Errorf("%w: %d bytes", ErrTooSmall, len(src))
	}
	var s Superblock
	copy(s.Magic[:], src[0:8])
	if s.Magic != want {
		return Superblock{}, fmt.Errorf("%w: found %q, want %q", ErrBadMagic, s.Magic[:], want[:])
	}
	le := binary.LittleEndian
	s.Version = le.Uint32(src[8:])
	if s.Version > Version {
		return Superblock{}, fmt.Errorf("%w: version %d, this build reads up to %d", ErrVersion, s.Version, Version)
	}
	if s.Version < Version {
		return Superblock{}, fmt.Errorf("%w: version %d predates versioned slots (this build reads %d): reset to reformat", ErrVersion, s.Version, Version)
	}
	if got, sum := le.Uint64(src[superblockLen-8:]), xxhash.Sum64(src[:superblockLen-8]); got != sum {
		return Superblock{}, fmt.Errorf("%w: superblock checksum %016x, computed %016x", ErrBadRecord, got, sum)
	}
	s.Geometry = Geometry{
		BlockSize: le.Uint32(src[12:]),
		SlotCount: le.Uint64(src[16:]),
		DataOff:   le.Uint64(src[24:]),
		DataSize:  le.Uint64(src[32:]),
	}
	s.Epoch = le.Uint64(src[40:])
	s.Created = int64(le.Uint64(src[48:]))
	s.GenLease = le.Uint64(src[56:])
	s.VerLease = le.Uint64(src[64:])
	s.Flags = le.Uint64(src[72:])
	g := s.Geometry
	if g.BlockSize == 0 || g.BlockSize&(g.BlockSize-1) != 0 || g.SlotCount == 0 ||
		g.DataOff < SuperblockSize+g.SlotCount*SlotSize || g.DataOff%uint64(g.BlockSize) != 0 ||
		g.DataSize%uint64(g.BlockSize) != 0 || g.DataSize == 0 || g.DataOff+g.DataSize < g.DataOff {
		return Superblock{}, fmt.Errorf("%w: inconsistent geometry %+v", ErrBadRecord, g)
	}
	return s, nil
}

package attach

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/extent"
)

// Magic starts the superblock of a CXL pool (tiers/cxl writes it).
var Magic = extent.Magic{'S', 'T', 'R', 'A', 'C', 'X', 'L', '1'}

// ErrStale: a location no longer names the artifact it named (the slot was
// cleared or reused, or the extent freed or reused).
var ErrStale = errors.New("attach: stale location")

// Location is where an artifact lives in a pool: its index slot and its
// extent. The owner hands it out (cxl.Tier.Locate, the native protocol's
// LOCATE); Generation is unique per store, so a Location names one stored
// version and never another.
type Location struct {
	Slot       uint64 // index slot that published the extent
	Offset     uint64 // extent offset (its header) from the start of the pool
	Length     uint64 // payload bytes
	Generation uint64
}

// Reader is a read-only attachment to a pool another process owns: it maps
// the pool PROT_READ and reads artifacts in place. It takes no lock: the
// owner keeps writing meanwhile. Safe for concurrent use.
type Reader struct {
	f    *os.File
	data []byte
	geo  extent.Geometry
}

// Span is an artifact read in place: Bytes aliases the pool. The owner may
// remove the artifact and reuse its extent at any time; a reader that has
// consumed Bytes calls Valid to learn whether what it read was still the
// artifact.
type Span struct {
	Bytes []byte
	ID    artifact.ID
	Meta  artifact.Meta
	Loc   Location
	r     *Reader
}

// Valid reports whether the span's artifact was still stored, at its
// location, when Valid ran: its extent still carries the generation (the
// owner zeroes it before an extent is reused) and its slot still publishes
// it (the owner clears the slot before a Put that replaces the artifact or
// a Delete returns). True after consuming Bytes means the bytes consumed
// were the artifact's; false means the read raced with an eviction, delete
// or overwrite and must be retried another way.
func (s *Span) Valid() bool { return s.r.current(s.Loc) }

// Open attaches to the pool on path (a DAX device or a pool file) on this
// host, read-only.
func Open(path string) (*Reader, error) { return openSys("/sys", path) }

func openSys(sysRoot, path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	var size uint64
	if st, serr := f.Stat(); serr == nil && st.Mode()&os.ModeCharDevice != 0 {
		size, _, err = DAXSize(sysRoot, path)
	} else {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil {
			size = uint64(st.Size())
		}
	}
	if err == nil && size < extent.SuperblockSize {
		err = fmt.Errorf("%w: %d bytes", extent.ErrTooSmall, size)
	}
	if err == nil && size > uint64(^uint(0)>>1) {
		err = fmt.Errorf("%w: cannot map %d bytes", extent.ErrTooSmall, size)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("attach %s: %w", path, err)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("attach: mmap %s (%d bytes): %w", path, size, err)
	}
	r := &Reader{f: f, data: data}
	sb, err := extent.DecodeSuperblock(data, Magic)
	if err == nil && sb.Geometry.TotalSize() > size {
		err = fmt.Errorf("%w: geometry needs %d bytes, medium has %d", extent.ErrTooSmall, sb.Geometry.TotalSize(), size)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("attach %s: %w", path, err), r.Close())
	}
	r.geo = sb.Geometry
	return r, nil
}

// Read returns the artifact at loc in place, after checking its slot and
// extent header (generation, length, checksum of the header) and the
// payload checksum. A stale location yields ErrStale, damaged bytes
// extent.ErrBadRecord. The checksum pass is the only one over the payload:
// a caller that keeps the Span and re-reads Bytes later needs only Valid
// (the owner never rewrites a stored extent in place).
func (r *Reader) Read(loc Location) (*Span, error) {
	g := r.geo
	end := g.DataOff + g.DataSize
	if loc.Offset < g.DataOff || loc.Offset >= end || loc.Offset%uint64(g.BlockSize) != 0 || loc.Generation == 0 || loc.Slot >= g.SlotCount {
		return nil, fmt.Errorf("%w: offset %d or slot %d outside the pool", ErrStale, loc.Offset, loc.Slot)
	}
	if !r.current(loc) {
		return nil, fmt.Errorf("%w: generation %d no longer at %d", ErrStale, loc.Generation, loc.Offset)
	}
	h, n, err := extent.DecodeHeader(r.data[loc.Offset:end])
	if err != nil {
		if !r.current(loc) {
			return nil, fmt.Errorf("%w: extent at %d reused while read", ErrStale, loc.Offset)
		}
		return nil, fmt.Errorf("attach: read at %d: %w", loc.Offset, err)
	}
	if h.Generation != loc.Generation || h.Length != loc.Length || uint64(n)+h.Length > end-loc.Offset {
		return nil, fmt.Errorf("%w: extent at %d holds generation %d of %d bytes", ErrStale, loc.Offset, h.Generation, h.Length)
	}
	start := loc.Offset + uint64(n)
	b := r.data[start : start+h.Length : start+h.Length]
	if artifact.Checksum(b) != h.Checksum {
		if !r.current(loc) {
			return nil, fmt.Errorf("%w: extent at %d reused while read", ErrStale, loc.Offset)
		}
		return nil, fmt.Errorf("%w: payload checksum at %d", extent.ErrBadRecord, loc.Offset)
	}
	id, err := artifact.NewID(h.Namespace, h.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: key at %d: %w", extent.ErrBadRecord, loc.Offset, err)
	}
	sp := &Span{
		Bytes: b, ID: id.Clone(), Loc: loc, r: r,
		Meta: artifact.Meta{
			Length: int64(h.Length), Checksum: h.Checksum, DType: h.DType, Shape: h.Shape,
			Created: h.Created, TTL: h.TTL, Epoch: h.Epoch,
		},
	}
	if !sp.Valid() {
		return nil, fmt.Errorf("%w: extent at %d reused while read", ErrStale, loc.Offset)
	}
	return sp, nil
}

// current reports whether loc's extent still carries its generation and
// its slot still publishes it. The slot's commit word is loaded before its
// generation: a slot is published tail first, commit word last, and a
// generation is never published twice, so a live commit word followed by
// the right generation means the slot held this very record when the
// commit word was loaded.
func (r *Reader) current(loc Location) bool {
	if r.load(loc.Offset+extent.GenerationOffset) != loc.Generation {
		return false
	}
	so := r.geo.TableOff() + loc.Slot*extent.SlotSize
	var w [8]byte
	binary.LittleEndian.PutUint64(w[:], r.load(so))
	return extent.SlotLive(w[:]) && r.load(so+8) == loc.Generation
}

// load is an atomic load of the 8-byte-aligned word at off.
func (r *Reader) load(off uint64) uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&r.data[off])))
}

// Geometry is the attached pool's layout.
func (r *Reader) Geometry() extent.Geometry { return r.geo }

// Close unmaps the pool; Spans must not be used after it. Safe to call twice.
func (r *Reader) Close() error {
	var errs []error
	if r.data != nil {
		errs = append(errs, unix.Munmap(r.data))
		r.data = nil
	}
	if r.f != nil {
		errs = append(errs, r.f.Close())
		r.f = nil
	}
	return errors.Join(errs...)
}

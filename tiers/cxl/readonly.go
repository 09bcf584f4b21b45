package cxl

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers/internal/extent"
)

// Reader is a read-only attachment to a pool another process owns: it maps
// the pool PROT_READ and reads artifacts in place, given their Location
// (which the owner publishes, e.g. through the ownership directory). It
// takes no lock: the owner keeps writing meanwhile. Safe for concurrent use.
type Reader struct {
	f    *os.File
	data []byte
	geo  extent.Geometry
}

// Span is an artifact read in place: Bytes aliases the pool. The owner may
// free and reuse the extent at any time; a reader that has consumed Bytes
// calls Valid to learn whether what it read was still the artifact (the
// owner zeroes an extent's generation before reusing it).
type Span struct {
	Bytes []byte
	ID    artifact.ID
	Meta  artifact.Meta
	loc   Location
	r     *Reader
}

// Valid reports whether the span's extent still holds its generation: true
// after consuming Bytes means the bytes consumed were the artifact's.
func (s *Span) Valid() bool { return s.r.generation(s.loc.Offset) == s.loc.Generation }

// OpenReadOnly attaches to the pool on path (a DAX device or a pool file).
func OpenReadOnly(path string) (*Reader, error) { return openReadOnly("/sys", path) }

func openReadOnly(sysRoot, path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cxl: attach: %w", err)
	}
	var size uint64
	if st, serr := f.Stat(); serr == nil && st.Mode()&os.ModeCharDevice != 0 {
		size, _, err = daxSize(sysRoot, path)
	} else {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil {
			size = uint64(st.Size())
		}
	}
	if err == nil && size < extent.SuperblockSize {
		err = fmt.Errorf("%w: %d bytes", ErrTooSmall, size)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cxl: attach %s: %w", path, err)
	}
	data, err := mapFile(f, size, false)
	if err != nil {
		f.Close()
		return nil, err
	}
	sb, err := extent.DecodeSuperblock(data, magic)
	if err == nil && sb.Geometry.TotalSize() > size {
		err = fmt.Errorf("%w: geometry needs %d bytes, medium has %d", ErrTooSmall, sb.Geometry.TotalSize(), size)
	}
	if err != nil {
		r := &Reader{f: f, data: data}
		return nil, errors.Join(fmt.Errorf("cxl: attach %s: %w", path, err), r.Close())
	}
	return &Reader{f: f, data: data, geo: sb.Geometry}, nil
}

// Read returns the artifact at loc in place, after checking its extent
// header (generation, length, checksum of the header) and the payload
// checksum. A stale location yields ErrStale, damaged bytes ErrBadRecord.
func (r *Reader) Read(loc Location) (*Span, error) {
	g := r.geo
	end := g.DataOff + g.DataSize
	if loc.Offset < g.DataOff || loc.Offset >= end || loc.Offset%uint64(g.BlockSize) != 0 || loc.Generation == 0 {
		return nil, fmt.Errorf("%w: offset %d outside the data area", ErrStale, loc.Offset)
	}
	if r.generation(loc.Offset) != loc.Generation {
		return nil, fmt.Errorf("%w: generation at %d is not %d", ErrStale, loc.Offset, loc.Generation)
	}
	h, n, err := extent.DecodeHeader(r.data[loc.Offset:end])
	if err != nil {
		return nil, fmt.Errorf("cxl: read at %d: %w", loc.Offset, err)
	}
	if h.Generation != loc.Generation || h.Length != loc.Length || uint64(n)+h.Length > end-loc.Offset {
		return nil, fmt.Errorf("%w: extent at %d holds generation %d of %d bytes", ErrStale, loc.Offset, h.Generation, h.Length)
	}
	start := loc.Offset + uint64(n)
	b := r.data[start : start+h.Length : start+h.Length]
	if artifact.Checksum(b) != h.Checksum {
		if !r.stillGen(loc) {
			return nil, fmt.Errorf("%w: extent at %d reused while read", ErrStale, loc.Offset)
		}
		return nil, fmt.Errorf("%w: payload checksum at %d", ErrBadRecord, loc.Offset)
	}
	id, err := artifact.NewID(h.Namespace, h.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: key at %d: %w", ErrBadRecord, loc.Offset, err)
	}
	sp := &Span{
		Bytes: b, ID: id.Clone(), loc: loc, r: r,
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

func (r *Reader) stillGen(loc Location) bool { return r.generation(loc.Offset) == loc.Generation }

func (r *Reader) generation(off uint64) uint64 {
	return atomic.LoadUint64(wordAt(r.data, off+extent.GenerationOffset))
}

// Geometry is the attached pool's layout.
func (r *Reader) Geometry() extent.Geometry { return r.geo }

// Close unmaps the pool; Spans must not be used after it. Safe to call twice.
func (r *Reader) Close() error {
	m := mapping{f: r.f, data: r.data}
	r.f, r.data = nil, nil
	return m.Close()
}

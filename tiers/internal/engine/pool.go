package engine

import (
	"fmt"

	"github.com/stratacache/stratacache/extent"
	"github.com/stratacache/stratacache/tiers"
)

// Prepare says how to bring a medium's superblock into service.
type Prepare struct {
	Magic extent.Magic
	// Want is the geometry to format with, and to compare against when
	// Strict; a non-strict open adopts the medium's geometry.
	Want   extent.Geometry
	Strict bool
	// Reset formats the medium whatever it holds (cxl_reset_metadata).
	Reset bool
	// MediumSize is the bytes the medium offers.
	MediumSize uint64
	// Now stamps a fresh superblock (unix ns).
	Now int64
}

// PreparePool validates the superblock of m, or formats m when it is blank
// (all zeros) or Reset is asked, and bumps the epoch. A medium of another
// kind, a newer version or a different geometry is refused untouched.
func PreparePool(m Media, p Prepare) (extent.Superblock, error) {
	if p.MediumSize < extent.SuperblockSize {
		return extent.Superblock{}, fmt.Errorf("%w: %d bytes", extent.ErrTooSmall, p.MediumSize)
	}
	buf := make([]byte, extent.SuperblockSize)
	if err := m.ReadAt(buf, 0); err != nil {
		return extent.Superblock{}, fmt.Errorf("read superblock: %w", err)
	}
	blank := true
	for _, b := range buf {
		if b != 0 {
			blank = false
			break
		}
	}
	if p.Reset || blank {
		return format(m, p, buf)
	}
	sb, err := extent.DecodeSuperblock(buf, p.Magic)
	if err != nil {
		return extent.Superblock{}, err
	}
	if sb.Flags&extent.FlagFailed != 0 {
		return extent.Superblock{}, fmt.Errorf("%w: the pool failed (a write or sync error) while in use: what it holds may be older than what was acknowledged; reset it", tiers.ErrFailed)
	}
	if p.Strict && sb.Geometry != p.Want {
		return extent.Superblock{}, fmt.Errorf("%w: medium has %+v, config asks %+v (reset to reformat)", extent.ErrGeometry, sb.Geometry, p.Want)
	}
	if sb.Geometry.TotalSize() > p.MediumSize {
		return extent.Superblock{}, fmt.Errorf("%w: geometry needs %d bytes, medium has %d", extent.ErrTooSmall, sb.Geometry.TotalSize(), p.MediumSize)
	}
	sb.Epoch++
	sb.Version = extent.Version
	sb.Encode(buf)
	if err := m.WriteAt(buf, 0); err != nil {
		return extent.Superblock{}, fmt.Errorf("write superblock: %w", err)
	}
	if err := m.Sync(); err != nil {
		return extent.Superblock{}, fmt.Errorf("sync superblock: %w", err)
	}
	return sb, nil
}

// format zeroes the slot table and writes a fresh superblock last.
func format(m Media, p Prepare, buf []byte) (extent.Superblock, error) {
	g := p.Want
	if g.TotalSize() > p.MediumSize {
		return extent.Superblock{}, fmt.Errorf("%w: geometry needs %d bytes, medium has %d", extent.ErrTooSmall, g.TotalSize(), p.MediumSize)
	}
	// Invalidate the old superblock first: a crash while formatting leaves a
	// blank medium, not an old superblock over a half-zeroed table.
	clear(buf)
	if err := m.WriteAt(buf, 0); err != nil {
		return extent.Superblock{}, fmt.Errorf("clear superblock: %w", err)
	}
	zero := make([]byte, min(tableChunk, g.SlotCount*extent.SlotSize))
	for off, end := g.TableOff(), g.TableOff()+g.SlotCount*extent.SlotSize; off < end; {
		n := min(uint64(len(zero)), end-off)
		if err := m.WriteAt(zero[:n], int64(off)); err != nil {
			return extent.Superblock{}, fmt.Errorf("clear slot table: %w", err)
		}
		off += n
	}
	if err := m.Sync(); err != nil {
		return extent.Superblock{}, fmt.Errorf("sync slot table: %w", err)
	}
	sb := extent.Superblock{Magic: p.Magic, Version: extent.Version, Geometry: g, Epoch: 1, Created: p.Now}
	sb.Encode(buf)
	if err := m.WriteAt(buf, 0); err != nil {
		return extent.Superblock{}, fmt.Errorf("write superblock: %w", err)
	}
	if err := m.Sync(); err != nil {
		return extent.Superblock{}, fmt.Errorf("sync superblock: %w", err)
	}
	return sb, nil
}

package extent

import "errors"

// Errors of the on-media formats. The tiers re-export them.
var (
	// ErrBadMagic: the medium does not start with this tier's superblock.
	ErrBadMagic = errors.New("extent: bad magic (not a pool of this kind)")
	// ErrVersion: the medium was written by a newer format version.
	ErrVersion = errors.New("extent: unsupported format version")
	// ErrGeometry: the medium's geometry differs from the configured one.
	ErrGeometry = errors.New("extent: geometry mismatch")
	// ErrTooSmall: the medium cannot hold the superblock, index and one block.
	ErrTooSmall = errors.New("extent: medium too small")
	// ErrBadRecord: a superblock, slot or header fails its checksum or bounds.
	ErrBadRecord = errors.New("extent: bad record")
)

package engine

// Media is the storage under an Engine: a shared memory mapping (cxl) or a
// file (disk). Offsets are from the start of the medium. Calls for distinct
// ranges may run concurrently; the engine never reads a range while it
// writes it.
type Media interface {
	// ReadAt fills p from off.
	ReadAt(p []byte, off int64) error
	// WriteAt writes p at off.
	WriteAt(p []byte, off int64) error
	// PublishSlot writes a 64-byte slot record at off so that its first
	// 8-byte word lands after the rest (a crash leaves an uncommitted or
	// checksum-failing slot, never a plausible half).
	PublishSlot(rec []byte, off int64) error
	// ClearSlot zeroes the first 8-byte word of the slot at off.
	ClearSlot(off int64) error
	// Window returns the bytes [off, off+n) of a mapped medium for zero-copy
	// views, or nil when the medium is not mapped.
	Window(off, n int64) []byte
	// Freed is told that the extent at off went back to the allocator, before
	// anything else is written into it (a mapping zeroes the header's
	// generation so that read-only attachers notice the reuse).
	Freed(off int64)
	// Sync makes everything written so far durable.
	Sync() error
	// Close releases the medium.
	Close() error
}

// Package disk is the local-disk tier: one pre-allocated file (fallocate)
// holding a superblock, a compact slot table (the persistent index, 64
// bytes per artifact) and a data area of checksummed extents handed out by a
// coalescing extent allocator. Capacity is a hard cap: the file never grows
// past it, and free space is reused.
//
// On open the index is rebuilt from one sequential read of the slot table
// (no journal to replay); torn or stale records are detected by their
// checksums and generations and dropped, never served. Writes use pwrite,
// reads pread straight into the caller's buffer; Durability decides when
// data reaches stable storage (none, batch, or sync: acknowledged = stable).
// A View owns a private heap copy of the payload (the extent is not held
// after the copy), so views never pin disk space.
//
// disk may import artifact/, tiers/, tiers/eviction and tiers/internal/;
// never actors/, cluster/ or node/.
package disk

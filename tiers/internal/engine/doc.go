// Package engine is the shared core of the persistent tiers (cxl and disk):
// an in-memory index over a persistent slot table, the extent allocator,
// eviction through a tiers/eviction policy, pins, reader reference counts
// that keep an extent alive until its last view is released, checksum
// verification, crash recovery on open and the superblock checks. The tiers
// supply only the medium (a shared mapping or a file) through Media.
//
// Write order of a store (what makes a crash detectable): payload, then the
// extent header (with the payload checksum and the generation), then the
// index slot, whose first word is written last; a removal clears the slot's
// first word before the extent is reused. On open every live slot is checked
// (its checksum, bounds, overlaps, duplicate ids: the higher generation
// wins); the extent header is checked when the artifact is first touched and
// the payload checksum when it is first read.
//
// engine may import artifact/, tiers/ and tiers/internal/ packages; it takes
// its eviction policy as an interface value; never actors/, cluster/ or node/.
package engine

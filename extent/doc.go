// Package extent holds the on-media formats shared by the persistent tiers
// (tiers/cxl and tiers/disk) and the read-only attacher (attach/): the superblock, the fixed-size index slot record, the
// per-extent header that sits in front of every payload, and the extent
// allocator that hands out aligned ranges of the data area.
//
// Every record carries its own xxhash64 checksum so that a torn or stale
// write is detected on open and never served. All integers are little-endian.
//
// It sits at the top level, beside artifact/, so that clientsdk can link
// the attacher without linking any tier. extent may import artifact/ and
// third-party hashing only; never tiers/ or anything above it.
package extent

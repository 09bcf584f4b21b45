// Package extent holds the on-media formats shared by the persistent tiers
// (cxl and disk): the superblock, the fixed-size index slot record, the
// per-extent header that sits in front of every payload, and the extent
// allocator that hands out aligned ranges of the data area.
//
// Every record carries its own xxhash64 checksum so that a torn or stale
// write is detected on open and never served. All integers are little-endian.
//
// extent may import artifact/ and third-party hashing only; never tiers/ or
// anything above it.
package extent

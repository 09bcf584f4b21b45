// Package cxl is the CXL/DAX memory tier: a pool on a device-DAX character
// device (/dev/daxX.Y) mapped shared, or, where no DAX device exists, the
// same code on a file (on /dev/shm by default, or any path). The pool keeps
// a superblock, a persistent index (slot table) and checksummed extents, so
// a restarted process serves what the pool held before
// (Config.ResetMetadata wipes it), and a second process on the host can
// attach read-only (OpenReadOnly) and read artifacts in place, zero-copy,
// given their Location.
//
// The pool survives the death of the process that wrote it (the mapping is
// shared: a SIGKILL loses only the store in flight, which is detected and
// dropped on open). It does not promise survival of a power loss: CXL
// memory expanders are volatile, and a pool file on a disk is only as
// durable as the last Sync.
//
// The read-only reader lives in package attach (re-exported here), so that
// clientsdk can use it without importing the tier.
//
// cxl may import artifact/, attach/, extent/, tiers/, tiers/eviction and
// tiers/internal/; never actors/, cluster/ or node/.
package cxl

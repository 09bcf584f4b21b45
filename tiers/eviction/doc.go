// Package eviction holds the eviction policies shared by the tiers and the
// simulator: LRU, FIFO, LFU, S3-FIFO, SIEVE, ARC and a prefix-aware policy,
// all behind the small Policy interface, with nested pins. A policy tracks
// keys only (no payloads, no sizes, no locks): a tier serialises its calls,
// and the simulator drives it directly at tens of millions of operations per
// second. New builds one by name.
//
// No policy evicts on its own: the owner calls Evict as long as its budget
// (entries or bytes) requires. Only ghost lists (S3-FIFO, ARC) are trimmed
// inside Insert and Evict, and they stay bounded by the capacity hint.
//
// All policies share one storage layout (table.go): nodes in a slice linked
// by int32 positions with a free list, and an open-addressing index from key
// to node (keyindex.go) instead of a Go map, so the steady state allocates
// nothing and the GC has no pointers to scan. docs/eviction.md has the
// semantics, citations and benchmark figures.
//
// eviction imports only the standard library: nothing of this module (tiers
// depend on it, not the reverse) and no metrics, logging or actor packages.
package eviction

// Package eviction holds the eviction policies shared by the tiers and the
// simulator: LRU, FIFO, LFU, S3-FIFO, SIEVE, ARC and a prefix-aware policy,
// all behind the small Policy interface, with pins. A policy tracks keys only
// (no payloads, no sizes, no locks): a tier serialises its calls, and the
// simulator drives it directly at tens of millions of operations per second.
//
// eviction imports nothing of this module.
package eviction

// Package memory is the CPU-DRAM tier of StrataCache: payloads live off the
// Go heap in one anonymous private mmap arena, carved into aligned extents by
// a coalescing best-fit allocator, and are found through a sharded index keyed
// by the artifact's 64-bit id with the full key kept to detect collisions.
// Readers take zero-copy views (reference counted) or copy into their own
// buffer; an extent returns to the allocator only when its artifact has left
// the index and the last view on it is released. Eviction is delegated to an
// eviction.Policy; victims are handed to the tier's EvictFunc for demotion.
//
// memory implements tiers.Tier. It may import artifact/, tiers/ and
// tiers/eviction/; it must not import actors/, cluster/, node/, clientsdk/ or
// simulations/, and it knows nothing of actors or the network.
package memory

// Package memory is the CPU-DRAM tier of StrataCache: payloads live off the
// Go heap in one anonymous private mmap arena, carved into aligned extents by
// a coalescing best-fit allocator, and are found through a sharded index keyed
// by the artifact's 64-bit id with the full key kept to detect collisions.
// Readers take zero-copy views (reference counted) or copy into their own
// buffer; an extent returns to the allocator only when its artifact has left
// the index and the last view on it is released. Eviction is delegated to an
// eviction.Policy; victims are handed to the tier's EvictFunc for demotion.
//
// Budget. Every extent is a whole number of Config.Alignment units (4 KiB by
// default), so a payload of n bytes costs n rounded up. Stats.UsedBytes counts
// those rounded extents, including PendingBytes (removed artifacts still held
// by views) and extents reserved by Puts in progress; it never exceeds
// CapacityBytes.
//
// Decisions, with the measurements behind them (2 vCPU, see bench_test.go):
//   - Freed extents are not returned to the kernel (no MADV_DONTNEED):
//     with it, steady-state Put of 4 MiB fell from 6.5 GB/s to 1.1 GB/s,
//     every reuse paying page faults. RSS is bounded by the mapping anyway:
//     a full 2 GiB tier measured 2057 MiB RSS and <1 MiB of Go heap
//     (TestMemCheck, -memcheck).
//   - A read hit never waits for the policy mutex: it touches the key at
//     once if the mutex is free (TryLock), else records it in a striped,
//     lossy read buffer (eviction.Buffered) applied later in batches or by
//     the drain before an eviction (Config.ExactReads: every hit waits for
//     the mutex, as before issue 16). The hit rates this costs are in
//     docs/eviction.md; the read scaling, measured against ExactReads, in
//     docs/BENCHMARKS.md (on the shared 2-vCPU machine it was within the
//     noise).
//   - The checksum is computed once: at the first Meta/Stat by default, or
//     fused into Put's copy with Config.ChecksumOnPut (Put then runs at
//     ~5 GB/s instead of memcpy speed). Reads do not verify it (the medium
//     is DRAM), so Stats.Corruptions stays zero for this tier.
//   - A view is the index entry itself behind the tiers.View interface:
//     taking one is an atomic increment and allocates nothing. Release must
//     be called exactly once; a second call is not detected.
//
// Close empties the index and fails later calls with tiers.ErrClosed; views
// taken before Close stay readable, and the arena is unmapped when the last
// of them is released.
//
// memory implements tiers.Tier. It may import artifact/, tiers/ and
// tiers/eviction/; it must not import actors/, cluster/, node/, clientsdk/ or
// simulations/, and it knows nothing of actors or the network.
package memory

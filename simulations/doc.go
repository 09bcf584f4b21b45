// Package simulations replays request traces through prefix caches: the
// real eviction policies of tiers/eviction (never a copy of them), Belady's
// MIN as the oracle and an infinite cache, in single-cache, multi-tier and
// multi-node modes.
//
// Reference semantics (../shared/traces/README.md): for each request in
// order, hit = the longest run of leading blocks all cached before the
// request; then the request's blocks are pinned, the missing ones inserted
// (evicting per policy, never a pinned block) and every block accessed
// deepest-first, so the first block ends up most recently used.
//
// Sub-packages: trace (readers), workload (seeded generators), mrcplot
// (miss-ratio-curve plots). The policy found with the simulator lives with
// the others in tiers/eviction/duel.
//
// The multi-node mode routes with clientsdk's Index and ScoreNodes (the
// scorer schedulers embed), fed by the nodes' ownership updates as a
// scheduler's index is, with the lag, losses and false positives that
// Knowledge describes.
//
// simulations imports tiers/eviction, clientsdk (its index and scorer, no
// network use), its own sub-packages and golang.org/x/sys/unix (thread CPU
// time for benchmarks) only: no actors, cluster or node code, and no second
// implementation of a policy or of the scorer.
package simulations

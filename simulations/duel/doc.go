// Package duel holds a candidate eviction policy for prefix caches found
// with the simulator: a probation/protected LRU with a ghost of evicted ids
// (frequency-filtered admission) that duels, on sampled shadow caches,
// against plain LRU and follows the winner. It implements eviction.Policy
// and eviction.ParentAware is not needed; see docs/simulations.md for the
// measured figures. It is kept here until tiers/eviction adopts it (one file
// and one case in eviction.New make it available to the tiers by config).
//
// duel imports tiers/eviction (the interface) only.
package duel

// Package duel holds a candidate eviction policy for prefix caches found
// with the simulator: a probation/protected LRU with a ghost of evicted key
// fingerprints (frequency-filtered admission) that duels, on sampled shadow
// caches, against plain LRU and follows the winner. It implements
// eviction.Policy (it needs no parents); docs/SIMULATIONS.md has the
// measured figures. It stays here until tiers/eviction adopts it: its four
// files and one case in eviction.New make it selectable by the tiers'
// config.
//
// duel imports tiers/eviction (the interface) only.
package duel

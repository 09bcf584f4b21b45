// Package duel is an eviction policy for prefix caches found with the
// simulator: a probation/protected LRU with a ghost of evicted key
// fingerprints (frequency-filtered admission) that duels, on sampled shadow
// caches, against plain LRU and follows the winner. It satisfies
// eviction.Policy (it needs no parents) and eviction.New builds it under the
// name "duel", so a tier selects it by config (cpu_policy: duel).
// docs/SIMULATIONS.md has the measured figures.
//
// duel imports nothing of this module: eviction imports it, so it cannot
// import eviction back (the interface is satisfied structurally and
// asserted in eviction/new.go).
package duel

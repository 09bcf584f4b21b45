// Package tiertest ships an in-memory fake tiers.Tier for other packages'
// tests: a map of heap slices with an exact byte budget, FIFO eviction,
// pins, views and an optional fault hook. It is small and obviously correct
// rather than fast; the real media live in tiers/memory, tiers/cxl and
// tiers/disk.
//
// tiertest imports tiers/ and artifact/ only.
package tiertest

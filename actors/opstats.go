package actors

import (
	"errors"
	"sync/atomic"
)

// OpStats counts the engine's own calls: what its callers (the protocol
// servers, the cluster's peers, embedded clients) asked of the chain,
// whichever tier served them. Rates of these counters are a node's ops/s,
// hit rate and bytes/s.
type OpStats struct {
	Loads       uint64 // Load and View calls that found or missed their id
	LoadMisses  uint64 // of which found nothing (ErrNotFound)
	LoadedBytes uint64 // payload bytes of the loads that found their id
	Stores      uint64 // Store and StoreFill calls that succeeded
	StoredBytes uint64 // payload bytes of those stores
	Deletes     uint64 // Delete calls
}

// opCounters are the engine's OpStats counters. Reads and writes sit on
// separate cache lines: concurrent loads do not bounce the stores' line.
type opCounters struct {
	loads, loadMisses, loadedBytes atomic.Uint64
	_                              [40]byte
	stores, storedBytes, deletes   atomic.Uint64
	_                              [40]byte
}

// hit counts a load that found its artifact.
func (c *opCounters) hit(n int) {
	c.loads.Add(1)
	c.loadedBytes.Add(uint64(n))
}

// miss counts a load that failed: ErrNotFound is a miss, other errors
// (bad input, collisions, a closed tier) are not loads at all.
func (c *opCounters) miss(err error) {
	if errors.Is(err, ErrNotFound) {
		c.loads.Add(1)
		c.loadMisses.Add(1)
	}
}

func (c *opCounters) store(n int64, err error) {
	if err == nil {
		c.stores.Add(1)
		c.storedBytes.Add(uint64(n))
	}
}

func (c *opCounters) snapshot() OpStats {
	return OpStats{
		Loads: c.loads.Load(), LoadMisses: c.loadMisses.Load(), LoadedBytes: c.loadedBytes.Load(),
		Stores: c.stores.Load(), StoredBytes: c.storedBytes.Load(), Deletes: c.deletes.Load(),
	}
}

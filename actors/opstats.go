package actors

import (
	"errors"
	"sync/atomic"

	"github.com/stratacache/stratacache/artifact"
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

// opShards spreads the op counters over cache lines by artifact hash, as
// the tiers spread their own counters: loads of different keys on two
// cores do not bounce one line between them.
const opShards = 16

// opShard is one shard's counters, padded to two cache lines so that no
// two shards share one (the array itself is only 8-byte aligned).
type opShard struct {
	loads, loadMisses, loadedBytes atomic.Uint64
	stores, storedBytes, deletes   atomic.Uint64
	_                              [128 - 6*8]byte
}

// opCounters are the engine's OpStats counters.
type opCounters struct {
	shards [opShards]opShard
}

func (c *opCounters) shard(id artifact.ID) *opShard { return &c.shards[id.Hash%opShards] }

// hit counts a load of id that found its artifact.
func (c *opCounters) hit(id artifact.ID, n int) {
	s := c.shard(id)
	s.loads.Add(1)
	s.loadedBytes.Add(uint64(n))
}

// miss counts a load of id that failed: ErrNotFound is a miss, other
// errors (bad input, collisions, a closed tier) are not loads at all.
func (c *opCounters) miss(id artifact.ID, err error) {
	if errors.Is(err, ErrNotFound) {
		s := c.shard(id)
		s.loads.Add(1)
		s.loadMisses.Add(1)
	}
}

func (c *opCounters) store(id artifact.ID, n int64, err error) {
	if err == nil {
		s := c.shard(id)
		s.stores.Add(1)
		s.storedBytes.Add(uint64(n))
	}
}

func (c *opCounters) delete(id artifact.ID) { c.shard(id).deletes.Add(1) }

func (c *opCounters) snapshot() OpStats {
	var o OpStats
	for i := range c.shards {
		s := &c.shards[i]
		o.Loads += s.loads.Load()
		o.LoadMisses += s.loadMisses.Load()
		o.LoadedBytes += s.loadedBytes.Load()
		o.Stores += s.stores.Load()
		o.StoredBytes += s.storedBytes.Load()
		o.Deletes += s.deletes.Load()
	}
	return o
}

package memory

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratacache/stratacache/artifact"
)

// entry is one stored artifact. Everything but accessed, pins and refs is
// immutable once the entry is published in the index, so readers need no lock
// to use it while they hold a reference.
//
// refs counts the index's reference (1 while the entry is indexed) plus one
// per outstanding view (including a Get in progress). The extent goes back
// to the allocator when refs reaches zero, which can only happen after the
// entry has left the index.
//
// *entry is the tiers.View the tier hands out: taking a view is an atomic
// increment, with no allocation.
type entry struct {
	t    *Tier
	hash uint64
	ns   artifact.Namespace
	// summed says sum is valid (see sum below). It sits beside ns, in the
	// padding after it: at the end it took 8 bytes that moved the entry
	// (allocated on every Put) from the 224- to the 240-byte size class.
	summed atomic.Bool
	key    []byte // private copy
	ext    extent
	data   []byte // arena bytes of the payload, len == meta.Length
	meta   artifact.Meta

	accessed atomic.Int64
	// ttl is meta.TTL, changeable in place (SetTTL) while views read it.
	ttl  atomic.Int64
	pins atomic.Int32 // changed under Tier.policyMu
	refs atomic.Int32
	// evicting is non-nil while the entry is handed to the EvictFunc: it
	// stays indexed (readable) and is closed once it has left the index. A
	// Put or Delete of the same key waits for it. Set and read under the
	// shard's lock.
	evicting chan struct{}
	// sum caches the payload checksum when it is computed after Put
	// (Config.ChecksumOnPut false); summed says it is valid. Racing first
	// readers compute the same value, so no lock is needed.
	sum atomic.Uint64
}

// sameKey compares the full identity, not just the hash.
func (e *entry) sameKey(id artifact.ID) bool {
	return e.ns == id.Namespace && string(e.key) == string(id.Key)
}

// expired reports whether the entry's TTL has passed at now (unix ns).
func (e *entry) expired(now int64) bool {
	ttl := e.ttl.Load()
	return ttl > 0 && now-e.meta.Created >= ttl
}

// Bytes returns the payload; valid until Release.
func (e *entry) Bytes() []byte { return e.data }

// Meta returns the artifact's metadata with its current access time and pin
// count. Shape is shared with the tier and must not be modified.
//
// Without Config.ChecksumOnPut, the first call hashes the payload (about
// 0.3 ms per 4 MiB) and later calls reuse the result.
func (e *entry) Meta() artifact.Meta {
	m := e.meta
	m.TTL = time.Duration(e.ttl.Load())
	m.Accessed = e.accessed.Load()
	m.Pins = e.pins.Load()
	m.Checksum = e.checksum()
	return m
}

func (e *entry) checksum() uint64 {
	if e.summed.Load() {
		return e.sum.Load()
	}
	sum := artifact.Checksum(e.data)
	e.sum.Store(sum)
	e.summed.Store(true)
	return sum
}

// Release drops the view's reference. It must be called exactly once per
// view; a second call would release another holder's reference.
func (e *entry) Release() { e.t.release(e) }

// id rebuilds the artifact id (sharing the entry's key copy, which never
// changes).
func (e *entry) id() artifact.ID {
	return artifact.ID{Hash: e.hash, Namespace: e.ns, Key: e.key}
}

// shard is one slice of the index. Counters live beside the lock so that
// readers on different shards do not share a cache line.
type shard struct {
	mu         sync.RWMutex
	m          map[uint64]*entry
	hits       atomic.Uint64
	misses     atomic.Uint64
	collisions atomic.Uint64
	_          [64]byte
}

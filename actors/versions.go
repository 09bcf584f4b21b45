package actors

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// versionClock issues the versions of stores and deletes: strictly
// increasing within a process, and above every version issued by an
// earlier process on the same tiers. It starts at max(the persistent tiers'
// high-water marks + 1, the wall clock in nanoseconds): the tiers' leases
// cover a clock that went backwards, and the clock covers a chain without
// persistent tiers (a version issued by the previous process is below the
// time it was issued, as long as fewer than 10^9 versions a second are
// issued).
type versionClock struct{ last atomic.Uint64 }

func (c *versionClock) seed(ts []tiers.Tier, now time.Time) {
	v := uint64(now.UnixNano())
	for _, t := range ts {
		if h, ok := t.(tiers.HighWaterMarker); ok {
			v = max(v, h.VersionHighWater()+1)
		}
	}
	c.last.Store(v)
}

func (c *versionClock) next() uint64 { return c.last.Add(1) }

// registry is the chain's one place for the version rule. For every key
// with an operation in flight (a store, a delete, or a copy between tiers:
// flush, promote) it keeps the newest version issued for it and how many
// operations hold the entry. A copy is admitted into a tier only if its
// version is not older than that (registry.Admit, called by the tier under
// its index lock as a tiers.Guard), so a flush or promote that read its
// source before a newer store or a delete began can never land after it.
//
// Tombstones are bounded: the entry of a delete (its version is the
// tombstone) lives exactly as long as an operation on the key is in flight,
// so the registry holds at most one entry per key with operations in flight
// (bounded by the callers, the links' batches and the bounded promote
// queue), and nothing once the chain is idle. What makes that enough: every
// store also invalidates the copies older than itself in the tiers below it
// before it returns, so a finished store or delete leaves no older copy
// behind that a later copy could read; and a demotion (an eviction) copies
// an artifact that stays current until it lands, because a store or delete
// of the key waits for the eviction to finish (tiers.EvictFunc).
type registry struct {
	shards [registryShards]registryShard
}

const registryShards = 64

type registryShard struct {
	mu sync.Mutex
	m  map[uint64]registryEntry
	_  [48]byte // keep neighbouring shards' locks off one cache line
}

type registryEntry struct {
	latest uint64
	refs   int32
}

func newRegistry() *registry {
	r := &registry{}
	for i := range r.shards {
		r.shards[i].m = make(map[uint64]registryEntry)
	}
	return r
}

func (r *registry) shard(h uint64) *registryShard { return &r.shards[h%registryShards] }

// enter registers an operation on the key of hash h; v is the version it
// issued (a store or delete), or 0 for a copy.
func (r *registry) enter(h, v uint64) {
	s := r.shard(h)
	s.mu.Lock()
	e := s.m[h]
	e.refs++
	e.latest = max(e.latest, v)
	s.m[h] = e
	s.mu.Unlock()
}

// leave ends an operation registered by enter.
func (r *registry) leave(h uint64) {
	s := r.shard(h)
	s.mu.Lock()
	e := s.m[h]
	if e.refs--; e.refs <= 0 {
		delete(s.m, h)
	} else {
		s.m[h] = e
	}
	s.mu.Unlock()
}

// Admit implements tiers.Guard: a copy of version v of id may land unless a
// newer store or a delete of id is in flight (or finished while the copy
// was in flight).
func (r *registry) Admit(id artifact.ID, v uint64) bool {
	s := r.shard(id.Hash)
	s.mu.Lock()
	e, ok := s.m[id.Hash]
	s.mu.Unlock()
	return !ok || v >= e.latest
}

// size is the number of keys with operations in flight.
func (r *registry) size() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

var _ tiers.Guard = (*registry)(nil)

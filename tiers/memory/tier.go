package memory

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/eviction"
)

// Tier is the CPU-memory tier. It implements tiers.Tier; every method is safe
// for concurrent use.
//
// Locks, always taken in this order: policyMu (the policy and every index
// mutation), a shard's mu (its map), allocMu (allocator, arena lifetime,
// space waiters). Readers take only a shard's read lock, then record the
// access through eviction.Buffered (policyMu only by TryLock; when it is
// held, a read-buffer stripe's own mutex), or, with Config.ExactReads,
// wait for policyMu. No lock is held while payload
// bytes are copied or while the EvictFunc runs.
type Tier struct {
	cfg           Config
	shards        []shard
	shardMask     uint64
	maxBytes      int64
	checksumOnPut bool

	policyMu sync.Mutex
	policy   eviction.Policy    // reads when buffered; calls under policyMu
	reads    *eviction.Buffered // nil with Config.ExactReads

	allocMu    sync.Mutex
	alloc      *allocator
	arena      arena
	extentsOut int           // extents handed out and not yet freed
	closing    bool          // Close ran: unmap when extentsOut reaches 0
	spaceGen   uint64        // bumped whenever space may have appeared
	waiters    int           // Puts waiting for space
	spaceCh    chan struct{} // closed (and replaced) on a bump with waiters

	evictFunc atomic.Pointer[tiers.EvictFunc]
	closed    atomic.Bool

	used      atomic.Int64 // mirror of alloc.used for lock-free Stats
	pending   atomic.Int64
	evicting  atomic.Int64 // bytes of victims being handed to the EvictFunc
	inflight  atomic.Int64 // bytes reserved by Puts not yet published
	artifacts atomic.Int64
	puts      atomic.Uint64
	deletes   atomic.Uint64
	evictions atomic.Uint64
	evicted   atomic.Uint64
	stale     atomic.Uint64
}

var _ tiers.Tier = (*Tier)(nil)

// New maps the arena and builds the tier. It returns an error (wrapping
// ErrConfig for bad configuration) and never panics.
func New(cfg Config) (*Tier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	pol := cfg.Policy
	if pol == nil {
		p, err := eviction.New(cfg.PolicyName, cfg.PolicyCapacity)
		if err != nil {
			return nil, fmt.Errorf("%w: policy %q: %w", ErrConfig, cfg.PolicyName, err)
		}
		pol = p
	}
	ar, err := mapArena(cfg.CapacityBytes)
	if err != nil {
		return nil, err
	}
	if cfg.Prefault {
		if err := ar.prefault(); err != nil {
			return nil, errors.Join(err, ar.unmap())
		}
	}
	t := &Tier{
		cfg:           cfg,
		shards:        make([]shard, cfg.Shards),
		shardMask:     uint64(cfg.Shards - 1),
		maxBytes:      min(cfg.MaxArtifactBytes, cfg.CapacityBytes),
		checksumOnPut: cfg.ChecksumOnPut,
		alloc:         newAllocator(cfg.CapacityBytes, cfg.Alignment),
		arena:         ar,
		spaceCh:       make(chan struct{}),
	}
	t.policy = pol
	if !cfg.ExactReads {
		t.reads = eviction.NewBuffered(pol, &t.policyMu, cfg.ReadStripes)
		t.policy = t.reads
	}
	for i := range t.shards {
		t.shards[i].m = make(map[uint64]*entry)
	}
	return t, nil
}

// Name returns the configured name.
func (t *Tier) Name() string { return t.cfg.Name }

// Kind is tiers.KindMemory.
func (t *Tier) Kind() tiers.Kind { return tiers.KindMemory }

// SetEvictFunc installs the eviction hook (nil: victims are dropped).
func (t *Tier) SetEvictFunc(f tiers.EvictFunc) {
	if f == nil {
		t.evictFunc.Store(nil)
		return
	}
	t.evictFunc.Store(&f)
}

func (t *Tier) shardOf(h uint64) *shard { return &t.shards[h&t.shardMask] }

// Stats fills s with a snapshot. UsedBytes counts whole extents (payloads
// rounded up to Alignment), including PendingBytes (extents of removed
// artifacts still held by views) and extents reserved by Puts in progress.
func (t *Tier) Stats(s *tiers.Stats) {
	*s = tiers.Stats{
		Name:          t.cfg.Name,
		Kind:          tiers.KindMemory,
		CapacityBytes: t.cfg.CapacityBytes,
		UsedBytes:     t.used.Load(),
		PendingBytes:  t.pending.Load(),
		Artifacts:     t.artifacts.Load(),
		Puts:          t.puts.Load(),
		Deletes:       t.deletes.Load(),
		Evictions:     t.evictions.Load(),
		EvictedBytes:  t.evicted.Load(),
		Stale:         t.stale.Load(),
	}
	for i := range t.shards {
		sh := &t.shards[i]
		s.Hits += sh.hits.Load()
		s.Misses += sh.misses.Load()
		s.Collisions += sh.collisions.Load()
	}
}

// Close empties the index and marks the tier closed: later calls return
// tiers.ErrClosed (Contains false, Delete false). Views taken before Close
// stay valid until released; the arena is unmapped when the last of them is
// released (at once if there are none), and an unmap error is returned only
// when the unmap happens inside Close. A second Close is a no-op returning
// nil.
func (t *Tier) Close() error {
	if !t.closed.CompareAndSwap(false, true) {
		return nil
	}
	var dropped []*entry
	t.policyMu.Lock()
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for h, e := range sh.m {
			delete(sh.m, h)
			t.policy.Remove(h)
			dropped = append(dropped, e)
		}
		sh.mu.Unlock()
	}
	t.policyMu.Unlock()
	t.artifacts.Add(-int64(len(dropped)))
	for _, e := range dropped {
		t.dropIndexRef(e)
	}
	t.allocMu.Lock()
	defer t.allocMu.Unlock()
	t.closing = true
	t.signalSpaceLocked()
	if t.extentsOut == 0 {
		return t.arena.unmap()
	}
	return nil
}

// dropIndexRef is called once for an entry that has left the index (no lock
// held): its extent counts as pending until the last view is released.
func (t *Tier) dropIndexRef(e *entry) {
	t.pending.Add(e.ext.size)
	t.release(e)
}

// release drops one reference; the last one frees the extent.
func (t *Tier) release(e *entry) {
	if e.refs.Add(-1) != 0 {
		return
	}
	t.pending.Add(-e.ext.size)
	t.freeExtent(e.ext)
}

// freeExtent returns an extent to the allocator, wakes Puts waiting for
// space and unmaps the arena after Close once the last extent is back.
func (t *Tier) freeExtent(x extent) {
	if x.size == 0 {
		return
	}
	t.allocMu.Lock()
	defer t.allocMu.Unlock()
	t.alloc.free(x)
	t.used.Store(t.alloc.used)
	t.extentsOut--
	t.signalSpaceLocked()
	if t.closing && t.extentsOut == 0 {
		// Nobody is left to receive this error: Close returned already.
		_ = t.arena.unmap()
	}
}

// signalSpaceLocked records that space may have appeared (a free, or a
// publish that made reserved space evictable) and wakes every Put waiting
// for it; allocMu held.
func (t *Tier) signalSpaceLocked() {
	t.spaceGen++
	if t.waiters == 0 {
		return
	}
	close(t.spaceCh)
	t.spaceCh = make(chan struct{})
}

// validateID wraps an invalid id's error with the package prefix.
func validateID(id artifact.ID) error {
	if err := id.Validate(); err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	return nil
}

// SetParent tells a prefix-aware policy (eviction.ParentAware) that key's
// parent block is parent (0 for a root); call it before the Put of key. Other
// policies ignore it.
func (t *Tier) SetParent(key, parent uint64) {
	var inner eviction.Policy = t.policy
	if t.reads != nil {
		inner = t.reads.Unwrap()
	}
	pa, ok := inner.(eviction.ParentAware)
	if !ok {
		return
	}
	t.policyMu.Lock()
	pa.SetParent(key, parent)
	t.policyMu.Unlock()
}

// ReadBufferStats fills s with what became of the read hits recorded through
// the read buffer (zero with Config.ExactReads).
func (t *Tier) ReadBufferStats(s *eviction.BufferStats) {
	*s = eviction.BufferStats{}
	if t.reads != nil {
		t.reads.Stats(s)
	}
}

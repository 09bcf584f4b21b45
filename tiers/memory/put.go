package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// Put stores payload under id, replacing an artifact of the same key
// atomically. It reserves an extent (evicting per the policy, and waiting up
// to Config.SpaceWait or ctx for space held by views or other Puts), copies
// the payload with no lock held, then publishes the entry. On failure nothing
// is left behind. A different key with the same id fails with
// tiers.ErrCollision and leaves the stored artifact alone. A versioned Put
// (opts.Meta.Version > 0) is applied only over an older version and when
// opts.Guard admits it, else it fails with tiers.ErrStale.
func (t *Tier) Put(ctx context.Context, id artifact.ID, payload []byte, opts tiers.PutOptions) error {
	sh, e, err := t.prepare(ctx, id, int64(len(payload)), opts)
	if err != nil {
		return err
	}
	if t.checksumOnPut {
		e.sum.Store(copyAndSum(e.data, payload))
		e.summed.Store(true)
	} else {
		copy(e.data, payload)
	}
	return t.publish(ctx, sh, e, opts)
}

// prepare checks id and n against the tier, reserves an extent of n bytes
// and returns the unpublished entry that will hold them (its payload not yet
// written). The caller must publish or abandon it.
func (t *Tier) prepare(ctx context.Context, id artifact.ID, n int64, opts tiers.PutOptions) (*shard, *entry, error) {
	if t.closed.Load() {
		return nil, nil, tiers.ErrClosed
	}
	if err := validateID(id); err != nil {
		return nil, nil, err
	}
	if n < 0 || n > t.maxBytes || t.alloc.roundUp(n) > t.alloc.capacity {
		return nil, nil, fmt.Errorf("%w: %d bytes > limit %d", tiers.ErrTooLarge, n, t.maxBytes)
	}
	sh := t.shardOf(id.Hash)
	sh.mu.RLock()
	old := sh.m[id.Hash]
	collides := old != nil && !old.sameKey(id)
	stale := old != nil && !collides && opts.Meta.Version != 0 && old.meta.Version >= opts.Meta.Version
	sh.mu.RUnlock()
	if collides {
		sh.collisions.Add(1)
		return nil, nil, fmt.Errorf("%w: put %s", tiers.ErrCollision, id)
	}
	if stale {
		// Checked again when publishing; this spares the copy.
		t.stale.Add(1)
		return nil, nil, tiers.ErrStale
	}

	ext, err := t.reserve(ctx, n)
	if err != nil {
		return nil, nil, err
	}
	e := &entry{
		t:    t,
		hash: id.Hash,
		ns:   id.Namespace,
		key:  append([]byte(nil), id.Key...),
		ext:  ext,
		data: t.arena.slice(ext.off, n),
	}
	now := time.Now().UnixNano()
	e.meta = opts.Meta
	e.meta.Shape = append([]int64(nil), opts.Meta.Shape...)
	e.meta.Length = n
	e.meta.Created = now
	e.meta.Accessed = now
	e.meta.Pins = 0
	e.meta.Checksum = 0
	e.accessed.Store(now)
	e.ttl.Store(int64(opts.Meta.TTL))
	e.refs.Store(1)
	return sh, e, nil
}

// publish installs e in the index and the policy, replacing an entry of the
// same key: if that entry is being evicted, it first waits (with ctx) for it
// to leave. A versioned entry replaces only an older version, and only if
// opts.Guard admits it. On failure it frees e's extent.
func (t *Tier) publish(ctx context.Context, sh *shard, e *entry, opts tiers.PutOptions) error {
	v := e.meta.Version
	for {
		t.policyMu.Lock()
		if t.closed.Load() {
			t.policyMu.Unlock()
			t.abandon(e)
			return tiers.ErrClosed
		}
		sh.mu.Lock()
		old := sh.m[e.hash]
		if old != nil && !old.sameKey(e.id()) {
			sh.mu.Unlock()
			t.policyMu.Unlock()
			sh.collisions.Add(1)
			t.abandon(e)
			return fmt.Errorf("%w: put %s", tiers.ErrCollision, e.id())
		}
		if old != nil && old.evicting != nil {
			wait := old.evicting
			sh.mu.Unlock()
			t.policyMu.Unlock()
			if err := waitEviction(ctx, wait); err != nil {
				t.abandon(e)
				return err
			}
			continue
		}
		if v != 0 && ((old != nil && old.meta.Version >= v) || (opts.Guard != nil && !opts.Guard.Admit(e.id(), v))) {
			sh.mu.Unlock()
			t.policyMu.Unlock()
			t.stale.Add(1)
			t.abandon(e)
			return tiers.ErrStale
		}
		if old != nil {
			// Pins belong to the key: holders that pinned the old payload
			// keep the new one pinned too.
			e.pins.Store(old.pins.Load())
		}
		if opts.Pin {
			e.pins.Add(1)
		}
		sh.m[e.hash] = e
		sh.mu.Unlock()
		t.policy.Insert(e.hash) // a present key: a touch
		if opts.Pin {
			t.policy.Pin(e.hash)
		}
		t.policyMu.Unlock()

		t.inflight.Add(-e.ext.size)
		if old != nil {
			t.dropIndexRef(old)
		} else {
			t.artifacts.Add(1)
		}
		t.puts.Add(1)
		if e.ext.size > 0 {
			// Space reserved by this Put is now evictable: tell reservers.
			t.allocMu.Lock()
			t.signalSpaceLocked()
			t.allocMu.Unlock()
		}
		return nil
	}
}

// waitEviction waits until an eviction in progress has taken its victim out
// of the index, or ctx ends.
func waitEviction(ctx context.Context, ch chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("memory: waiting for an eviction of the same key: %w", ctx.Err())
	}
}

// abandon frees the extent of an entry that was never published.
func (t *Tier) abandon(e *entry) {
	t.inflight.Add(-e.ext.size)
	t.freeExtent(e.ext)
}

// reserve allocates an extent for n bytes, evicting victims one at a time
// (each handed to the EvictFunc with no lock held) until one fits. When the
// policy has nothing left to evict but space is held by views, by other
// Puts in flight or by evictions in progress, it waits for it up to
// Config.SpaceWait (or until ctx ends).
func (t *Tier) reserve(ctx context.Context, n int64) (extent, error) {
	if n == 0 {
		return extent{}, nil
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		t.allocMu.Lock()
		if t.closing {
			t.allocMu.Unlock()
			return extent{}, tiers.ErrClosed
		}
		if x, ok := t.alloc.alloc(n); ok {
			t.extentsOut++
			t.used.Store(t.alloc.used)
			t.inflight.Add(x.size)
			t.allocMu.Unlock()
			return x, nil
		}
		gen := t.spaceGen
		t.allocMu.Unlock()

		if t.evictOne(ctx) {
			continue
		}
		// Nothing evictable. Decide under allocMu, so that a free or a
		// publish after the attempt above is seen (spaceGen moved) or wakes
		// us (we are registered as a waiter before the lock is dropped).
		t.allocMu.Lock()
		switch {
		case t.closing:
			t.allocMu.Unlock()
			return extent{}, tiers.ErrClosed
		case t.spaceGen != gen:
			t.allocMu.Unlock()
			continue
		case t.pending.Load() == 0 && t.inflight.Load() == 0 && t.evicting.Load() == 0 || t.cfg.SpaceWait < 0:
			t.allocMu.Unlock()
			return extent{}, t.noSpace(n)
		}
		t.waiters++
		spaceCh := t.spaceCh
		t.allocMu.Unlock()
		if timer == nil {
			timer = time.NewTimer(t.cfg.SpaceWait)
		}
		select {
		case <-spaceCh:
			t.unwait()
		case <-timer.C:
			t.unwait()
			return extent{}, t.noSpace(n)
		case <-ctx.Done():
			t.unwait()
			return extent{}, fmt.Errorf("memory: waiting for space: %w", ctx.Err())
		}
	}
}

func (t *Tier) unwait() {
	t.allocMu.Lock()
	t.waiters--
	t.allocMu.Unlock()
}

func (t *Tier) noSpace(n int64) error {
	return fmt.Errorf("%w: %d bytes wanted, %d of %d used (%d held by views)",
		tiers.ErrNoSpace, n, t.used.Load(), t.cfg.CapacityBytes, t.pending.Load())
}

// evictOne takes the policy's next victim and hands it to the EvictFunc,
// which sees it still indexed (readable; a Put or Delete of its key waits),
// then removes it from the index. Without an EvictFunc the victim is dropped
// at once. It reports false when the policy has no unpinned key left.
func (t *Tier) evictOne(ctx context.Context) bool {
	fp := t.evictFunc.Load()
	t.policyMu.Lock()
	var victim *entry
	var sh *shard
	for victim == nil {
		h, ok := t.policy.Evict()
		if !ok {
			t.policyMu.Unlock()
			return false
		}
		sh = t.shardOf(h)
		sh.mu.Lock()
		if e := sh.m[h]; e != nil && e.evicting == nil {
			if fp == nil {
				delete(sh.m, h)
			} else {
				e.refs.Add(1) // the hook's view
				e.evicting = make(chan struct{})
			}
			victim = e
		}
		sh.mu.Unlock()
	}
	t.policyMu.Unlock()
	t.evictions.Add(1)
	t.evicted.Add(uint64(victim.meta.Length))
	if fp == nil {
		t.artifacts.Add(-1)
		t.dropIndexRef(victim)
		return true
	}
	t.evicting.Add(victim.ext.size)
	(*fp)(ctx, tiers.Evicted{ID: victim.id(), View: victim})
	t.policyMu.Lock()
	sh.mu.Lock()
	indexed := sh.m[victim.hash] == victim
	if indexed {
		delete(sh.m, victim.hash)
	}
	close(victim.evicting)
	sh.mu.Unlock()
	t.policyMu.Unlock()
	if indexed {
		t.artifacts.Add(-1)
		t.dropIndexRef(victim)
	}
	// After the drop: a reserver that saw no pending bytes sees these.
	t.evicting.Add(-victim.ext.size)
	return true
}

// sumChunk is small enough that a chunk just copied is still in L1/L2 when
// it is hashed.
const sumChunk = 32 << 10

// copyAndSum copies src into dst and returns artifact.Checksum(src) in one
// pass over memory: each chunk is hashed from the cache right after its copy,
// instead of reading a cold payload from DRAM twice. Measured on 4 MiB
// payloads not in cache: 2.5 GB/s against 1.6 GB/s for copy then hash
// (best of 8, loaded machine).
func copyAndSum(dst, src []byte) uint64 {
	if len(src) <= sumChunk {
		copy(dst, src)
		return artifact.Checksum(src)
	}
	var d xxhash.Digest
	d.Reset()
	for off := 0; off < len(src); off += sumChunk {
		end := min(off+sumChunk, len(src))
		copy(dst[off:end], src[off:end])
		_, _ = d.Write(dst[off:end])
	}
	return d.Sum64()
}

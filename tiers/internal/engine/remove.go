package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/extent"
	"github.com/stratacache/stratacache/tiers"
)

// removeLocked takes en out of the index; its slot is queued to be cleared
// outside the lock (by unlockClear) and only then reused; the extent is
// freed now or, while readers hold it, by the last of them. The policy is
// the caller's business.
func (e *Engine) removeLocked(en *entry) {
	if e.index[en.hash] == en {
		delete(e.index, en.hash)
	}
	if en.removed {
		return
	}
	en.removed = true
	e.toClear = append(e.toClear, en.slot)
	if en.refs == 0 {
		e.freeExtent(en)
	} else {
		e.pending += int64(en.extLen)
	}
}

// unlockClear releases mu, then clears the commit words of the slots
// removed meanwhile and returns them to the free list. A failed clear fails
// the tier (a cleared artifact could come back on reopen) and is returned.
func (e *Engine) unlockClear() error {
	cl := e.toClear
	e.toClear = nil
	e.mu.Unlock()
	if len(cl) == 0 {
		return nil
	}
	var firstErr error
	done := cl[:0]
	for _, s := range cl {
		if err := e.m.ClearSlot(e.slotOff(s)); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue // the slot stays out of the free list
		}
		done = append(done, s)
	}
	e.mu.Lock()
	e.freeSlots = append(e.freeSlots, done...)
	e.signalSpaceLocked()
	e.mu.Unlock()
	if firstErr != nil {
		e.fail(fmt.Errorf("clear slot: %w", firstErr))
		return fmt.Errorf("%s: %w: clear slot: %w", e.o.Name, tiers.ErrFailed, firstErr)
	}
	return nil
}

func (e *Engine) freeExtent(en *entry) {
	e.m.Freed(int64(en.off))
	e.alloc.Free(en.off, en.extLen)
	e.signalSpaceLocked()
}

// unrefLocked drops a reader's hold on en's extent.
func (e *Engine) unrefLocked(en *entry) {
	en.refs--
	if en.refs == 0 && en.removed {
		e.pending -= int64(en.extLen)
		e.freeExtent(en)
	}
}

// dropCorrupt removes an entry whose header or payload failed its check.
func (e *Engine) dropCorrupt(en *entry) {
	if en.removed {
		return
	}
	e.st.Corruptions++
	e.o.Policy.Remove(en.hash)
	e.removeLocked(en)
}

// lockLoaded locks mu and returns the entry indexed under hash with its
// extent header loaded (or nil). Headers are read with mu released, so
// the index may change meanwhile: it loops until what it finds is loaded.
func (e *Engine) lockLoaded(hash uint64) *entry {
	e.mu.Lock()
	for {
		en := e.index[hash]
		if en == nil || en.loaded {
			return en
		}
		e.loadUnlocked(en)
	}
}

// loadUnlocked reads and checks en's extent header with mu released (mu is
// held on entry and on return); a corrupt entry is dropped. en's extent is
// held meanwhile, so it cannot be reused under the read.
func (e *Engine) loadUnlocked(en *entry) {
	en.refs++
	e.mu.Unlock()
	buf := make([]byte, en.hdrLen)
	err := e.m.ReadAt(buf, int64(en.off))
	e.mu.Lock()
	if !en.removed && !en.loaded {
		e.applyHeader(en, buf, err)
	}
	e.unrefLocked(en)
}

// applyHeader checks a header read for en against its slot and fills en's
// identity and metadata, or drops en as corrupt (mu held).
func (e *Engine) applyHeader(en *entry, buf []byte, readErr error) {
	if readErr != nil {
		e.dropCorrupt(en)
		return
	}
	h, _, err := extent.DecodeHeader(buf)
	if err != nil || h.Generation != en.gen || h.KeyHash != en.hash || h.Length != en.length || h.Checksum != en.checksum {
		e.dropCorrupt(en)
		return
	}
	id, err := artifact.NewID(h.Namespace, h.Key)
	if err != nil || id.Hash != en.hash {
		e.dropCorrupt(en)
		return
	}
	en.id = id.Clone()
	en.meta = artifact.Meta{
		Length: int64(h.Length), Checksum: h.Checksum, DType: h.DType, Shape: h.Shape,
		Created: h.Created, TTL: h.TTL, Epoch: h.Epoch, Version: en.version,
	}
	en.loaded = true
}

// findLocked finds id's entry, comparing the full key (mu held on entry and
// on return; it may be released meanwhile to load a header). Expired
// artifacts are removed and reported missing; a failed tier misses.
func (e *Engine) findLocked(id artifact.ID) (*entry, error) {
	for {
		if e.closed {
			return nil, errClosed
		}
		if e.failed != nil {
			return nil, fmt.Errorf("%s: %s: %w: %w", e.o.Name, id, tiers.ErrNotFound, tiers.ErrFailed)
		}
		en := e.index[id.Hash]
		if en == nil {
			return nil, fmt.Errorf("%s: %s: %w", e.o.Name, id, tiers.ErrNotFound)
		}
		if !en.loaded {
			e.loadUnlocked(en)
			continue
		}
		if !en.id.SameKey(id.Namespace, id.Key) {
			e.st.Collisions++
			return nil, fmt.Errorf("%s: %s (held: %s): %w: %w", e.o.Name, id, en.id, tiers.ErrNotFound, tiers.ErrCollision)
		}
		if en.meta.Expired(e.now()) && en.evicting == nil {
			e.o.Policy.Remove(en.hash)
			e.removeLocked(en)
			return nil, fmt.Errorf("%s: %s expired: %w", e.o.Name, id, tiers.ErrNotFound)
		}
		return en, nil
	}
}

// pickVictim takes the policy's next victim (mu held); nil when nothing can
// go. Without a hook the victim is removed at once; with one it is marked
// evicting and stays indexed until deliver has handed it over.
func (e *Engine) pickVictim(hook bool) *entry {
	for {
		h, ok := e.o.Policy.Evict()
		if !ok {
			return nil
		}
		en := e.index[h]
		if en == nil || en.evicting != nil {
			continue
		}
		if !hook {
			e.removeLocked(en)
			e.st.Evictions++
			e.st.EvictedBytes += en.length
			return en
		}
		en.evicting = make(chan struct{})
		e.evictingBytes += int64(en.extLen)
		return en
	}
}

// deliver hands a victim marked evicting to the hook, with a view of its
// payload, then takes it out of the index (mu not held).
func (e *Engine) deliver(ctx context.Context, fn tiers.EvictFunc, en *entry) {
	e.mu.Lock()
	for !en.loaded && !en.removed {
		e.loadUnlocked(en)
	}
	if en.removed { // its header was corrupt: dropped, that made room too
		e.finishEvictLocked(en)
		e.unlockClear()
		return
	}
	en.refs++
	e.views++
	e.ops++
	meta := en.meta
	meta.Pins = en.pins
	e.mu.Unlock()
	v, err := e.openView(en, meta)
	if err != nil {
		e.viewReleased()
	} else {
		fn(ctx, tiers.Evicted{ID: en.id, View: v})
	}
	e.mu.Lock()
	e.finishEvictLocked(en)
	e.unlockClear()
}

// finishEvictLocked ends an eviction: the victim leaves the index (if it is
// still there) and waiters are released (mu held).
func (e *Engine) finishEvictLocked(en *entry) {
	if e.index[en.hash] == en {
		e.removeLocked(en)
		e.st.Evictions++
		e.st.EvictedBytes += en.length
	}
	e.evictingBytes -= int64(en.extLen)
	close(en.evicting)
	e.signalSpaceLocked()
}

// Delete removes id (only a version older than opts.Below when set); it
// reports whether it removed it. It waits (with ctx) for puts of id in
// flight and for an eviction of id in progress, so that neither can land a
// copy after the delete returned. With SyncEachPut the removal is durable
// before Delete returns.
func (e *Engine) Delete(ctx context.Context, id artifact.ID, opts tiers.DeleteOptions) (bool, error) {
	if err := id.Validate(); err != nil {
		return false, fmt.Errorf("%s: delete: %w", e.o.Name, err)
	}
	if err := e.acquire(); err != nil {
		return false, err
	}
	defer e.done()
	for {
		en := e.lockLoaded(id.Hash)
		if e.putting[id.Hash] > 0 {
			e.putWaits++
			ch := e.putDone
			e.unlockClear()
			err := waitPut(ctx, ch)
			e.mu.Lock()
			e.putWaits--
			e.mu.Unlock()
			if err != nil {
				return false, fmt.Errorf("%s: delete %s: %w", e.o.Name, id, err)
			}
			continue
		}
		if en == nil || !en.id.SameKey(id.Namespace, id.Key) || (opts.Below != 0 && en.version >= opts.Below) {
			err := e.unlockClear()
			return false, err
		}
		if en.evicting != nil {
			wait := en.evicting
			e.unlockClear()
			if err := waitEviction(ctx, wait); err != nil {
				return false, fmt.Errorf("%s: delete %s: %w", e.o.Name, id, err)
			}
			continue
		}
		e.o.Policy.Remove(en.hash)
		e.removeLocked(en)
		e.st.Deletes++
		if err := e.unlockClear(); err != nil {
			return true, err
		}
		if e.o.SyncEachPut {
			if err := e.sync(); err != nil {
				return true, err
			}
		}
		return true, nil
	}
}

func waitPut(ctx context.Context, ch chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for a put of the same key: %w", ctx.Err())
	}
}

// Pin forbids id's eviction until Unpin (nested).
func (e *Engine) Pin(id artifact.ID) error {
	e.mu.Lock()
	en, err := e.findLocked(id)
	if err == nil {
		en.pins++
		e.o.Policy.Pin(en.hash)
	}
	e.unlockClear()
	return err
}

// Unpin undoes one Pin.
func (e *Engine) Unpin(id artifact.ID) error {
	e.mu.Lock()
	en, err := e.findLocked(id)
	if err == nil && en.pins > 0 {
		en.pins--
		e.o.Policy.Unpin(en.hash)
	}
	e.unlockClear()
	return err
}

// SetTTL makes id expire remaining from now (0: never), in place: the
// extent header is rewritten with the new TTL (one small write, synced when
// every put is). A crash that tears the write loses the artifact (its
// header checksum fails when it is next read), never serves it with a
// mixed header. See tiers.TTLSetter. The write happens outside the index
// lock, with the extent held; ttlMu keeps two SetTTLs of one artifact from
// leaving the medium and the index disagreeing.
func (e *Engine) SetTTL(id artifact.ID, remaining time.Duration) (bool, error) {
	if err := e.acquire(); err != nil {
		return false, err
	}
	defer e.done()
	e.ttlMu.Lock()
	defer e.ttlMu.Unlock()
	e.mu.Lock()
	en, err := e.findLocked(id)
	if err != nil {
		e.unlockClear()
		if errors.Is(err, tiers.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	var ttl time.Duration
	if remaining > 0 {
		ttl = time.Duration(e.now()-en.meta.Created) + remaining
	}
	h := extent.Header{
		Generation: en.gen, KeyHash: en.hash, Length: en.length, Checksum: en.checksum,
		Created: en.meta.Created, TTL: ttl, Epoch: en.meta.Epoch,
		Namespace: en.id.Namespace, DType: en.meta.DType, Shape: en.meta.Shape, Key: en.id.Key,
	}
	en.refs++
	e.unlockClear()
	release := func() {
		e.mu.Lock()
		e.unrefLocked(en)
		e.mu.Unlock()
	}
	buf := make([]byte, en.hdrLen)
	if _, err := h.Encode(buf); err != nil {
		release()
		return false, fmt.Errorf("%s: set ttl %s: %w", e.o.Name, id, err)
	}
	if err := e.m.WriteAt(buf, int64(en.off)); err != nil {
		release()
		return false, fmt.Errorf("%s: set ttl %s: %w", e.o.Name, id, err)
	}
	if e.o.SyncEachPut {
		if err := e.sync(); err != nil {
			release()
			return false, fmt.Errorf("%s: set ttl %s: %w", e.o.Name, id, err)
		}
	}
	e.mu.Lock()
	held := !en.removed
	if held {
		en.meta.TTL = ttl
	}
	e.unrefLocked(en)
	e.mu.Unlock()
	return held, nil
}

package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/internal/extent"
)

// removeLocked takes en out of the index and clears its slot; the extent
// is freed now or, while readers hold it, by the last of them. The policy is
// the caller's business.
func (e *Engine) removeLocked(en *entry) {
	if e.index[en.hash] == en {
		delete(e.index, en.hash)
	}
	if en.removed {
		return
	}
	en.removed = true
	_ = e.m.ClearSlot(e.slotOff(en.slot))
	e.freeSlots = append(e.freeSlots, en.slot)
	if en.refs == 0 {
		e.freeExtent(en)
	} else {
		e.pending += int64(en.extLen)
	}
}

func (e *Engine) freeExtent(en *entry) {
	e.m.Freed(int64(en.off))
	e.alloc.Free(en.off, en.extLen)
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

// load reads and checks en's extent header once; false means the entry was
// corrupt and has been dropped.
func (e *Engine) load(en *entry) bool {
	if en.loaded {
		return true
	}
	buf := make([]byte, en.hdrLen)
	if err := e.m.ReadAt(buf, int64(en.off)); err != nil {
		e.dropCorrupt(en)
		return false
	}
	h, _, err := extent.DecodeHeader(buf)
	if err != nil || h.Generation != en.gen || h.KeyHash != en.hash || h.Length != en.length || h.Checksum != en.checksum {
		e.dropCorrupt(en)
		return false
	}
	id, err := artifact.NewID(h.Namespace, h.Key)
	if err != nil || id.Hash != en.hash {
		e.dropCorrupt(en)
		return false
	}
	en.id = id.Clone()
	en.meta = artifact.Meta{
		Length: int64(h.Length), Checksum: h.Checksum, DType: h.DType, Shape: h.Shape,
		Created: h.Created, TTL: h.TTL, Epoch: h.Epoch,
	}
	en.loaded = true
	return true
}

// lookupLocked finds id's entry, comparing the full key; expired artifacts
// are removed and reported missing.
func (e *Engine) lookupLocked(id artifact.ID) (*entry, error) {
	if e.closed {
		return nil, errClosed
	}
	en := e.index[id.Hash]
	if en == nil || !e.load(en) {
		return nil, fmt.Errorf("%s: %s: %w", e.o.Name, id, tiers.ErrNotFound)
	}
	if !en.id.SameKey(id.Namespace, id.Key) {
		e.st.Collisions++
		return nil, fmt.Errorf("%s: %s (held: %s): %w: %w", e.o.Name, id, en.id, tiers.ErrNotFound, tiers.ErrCollision)
	}
	if en.meta.Expired(e.now()) {
		e.o.Policy.Remove(en.hash)
		e.removeLocked(en)
		return nil, fmt.Errorf("%s: %s expired: %w", e.o.Name, id, tiers.ErrNotFound)
	}
	return en, nil
}

// evictOne removes the policy's next victim; nil when nothing can go. With
// hold, the victim's extent is kept for an eviction view (refs and views).
func (e *Engine) evictOne(hold bool) *entry {
	for {
		h, ok := e.o.Policy.Evict()
		if !ok {
			return nil
		}
		en := e.index[h]
		if en == nil {
			continue
		}
		if !e.load(en) {
			continue // dropped as corrupt: that made room too
		}
		if hold {
			en.refs++
			e.views++
		}
		e.removeLocked(en)
		e.st.Evictions++
		e.st.EvictedBytes += en.length
		return en
	}
}

// Delete removes id; it reports whether it was present.
func (e *Engine) Delete(id artifact.ID) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	en, err := e.lookupLocked(id)
	if err != nil {
		return false
	}
	e.o.Policy.Remove(en.hash)
	e.removeLocked(en)
	e.st.Deletes++
	return true
}

// Pin forbids id's eviction until Unpin (nested).
func (e *Engine) Pin(id artifact.ID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	en, err := e.lookupLocked(id)
	if err != nil {
		return err
	}
	en.pins++
	e.o.Policy.Pin(en.hash)
	return nil
}

// Unpin undoes one Pin.
func (e *Engine) Unpin(id artifact.ID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	en, err := e.lookupLocked(id)
	if err != nil {
		return err
	}
	if en.pins > 0 {
		en.pins--
		e.o.Policy.Unpin(en.hash)
	}
	return nil
}

// SetTTL makes id expire remaining from now (0: never), in place: the
// extent header is rewritten with the new TTL (one small write, synced when
// every put is). A crash that tears the write loses the artifact (its
// header checksum fails when it is next read), never serves it with a
// mixed header. See tiers.TTLSetter.
func (e *Engine) SetTTL(id artifact.ID, remaining time.Duration) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	en, err := e.lookupLocked(id)
	if err != nil {
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
	buf := make([]byte, en.hdrLen)
	if _, err := h.Encode(buf); err != nil {
		return false, fmt.Errorf("%s: set ttl %s: %w", e.o.Name, id, err)
	}
	if err := e.m.WriteAt(buf, int64(en.off)); err != nil {
		return false, fmt.Errorf("%s: set ttl %s: %w", e.o.Name, id, err)
	}
	if e.o.SyncEachPut {
		if err := e.m.Sync(); err != nil {
			return false, fmt.Errorf("%s: set ttl %s: sync: %w", e.o.Name, id, err)
		}
	}
	en.meta.TTL = ttl
	return true, nil
}

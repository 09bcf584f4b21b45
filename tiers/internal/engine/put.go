package engine

import (
	"fmt"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/internal/extent"
)

// Put stores payload under id; see tiers.Tier.Put. The payload is written
// outside the lock into a reserved extent and published by its slot; the
// index switches to it only then, so readers see the old or the new payload.
func (e *Engine) Put(id artifact.ID, payload []byte, opts tiers.PutOptions) error {
	if err := id.Validate(); err != nil {
		return fmt.Errorf("%s: put: %w", e.o.Name, err)
	}
	if len(opts.Meta.Shape) > extent.MaxDims {
		return fmt.Errorf("%s: put: shape of %d dimensions (max %d): %w", e.o.Name, len(opts.Meta.Shape), extent.MaxDims, tiers.ErrTooLarge)
	}
	hdrLen := extent.HeaderLen(len(id.Key), len(opts.Meta.Shape))
	extLen := e.alloc.Round(uint64(hdrLen) + uint64(len(payload)))
	if extLen > e.geo.DataSize {
		return fmt.Errorf("%s: put %d bytes into %d: %w", e.o.Name, len(payload), e.geo.DataSize, tiers.ErrTooLarge)
	}
	sum, verified := opts.Meta.Checksum, false
	if !e.o.TrustPutChecksum || sum == 0 {
		sum, verified = artifact.Checksum(payload), true
	}
	if err := e.acquire(); err != nil {
		return err
	}
	defer e.done()
	off, slot, gen, err := e.reserve(id, extLen)
	if err != nil {
		return err
	}
	now := e.now()
	created := opts.Meta.Created
	if created == 0 {
		created = now
	}
	epoch := opts.Meta.Epoch
	if epoch == 0 {
		epoch = e.o.Epoch
	}
	h := extent.Header{
		Generation: gen, KeyHash: id.Hash, Length: uint64(len(payload)), Checksum: sum,
		Created: created, TTL: opts.Meta.TTL, Epoch: epoch,
		Namespace: id.Namespace, DType: opts.Meta.DType, Shape: opts.Meta.Shape, Key: id.Key,
	}
	hbuf := make([]byte, hdrLen)
	if _, err := h.Encode(hbuf); err != nil {
		e.unreserve(off, extLen, slot, false)
		return fmt.Errorf("%s: put: %w", e.o.Name, err)
	}
	s := extent.Slot{
		HeaderLen: uint32(hdrLen), Generation: gen, KeyHash: id.Hash, Offset: off,
		ExtentLen: extLen, Length: uint64(len(payload)), Checksum: sum,
	}
	var rec [extent.SlotSize]byte
	s.Encode(rec[:])
	published := false
	err = e.m.WriteAt(payload, int64(off)+int64(hdrLen))
	if err == nil {
		err = e.m.WriteAt(hbuf, int64(off))
	}
	if err == nil {
		published = true
		err = e.m.PublishSlot(rec[:], e.slotOff(slot))
	}
	if err == nil && e.o.SyncEachPut {
		err = e.m.Sync()
	}
	if err != nil {
		e.unreserve(off, extLen, slot, published)
		return fmt.Errorf("%s: put %s: %w", e.o.Name, id, err)
	}
	en := &entry{
		hash: id.Hash, slot: slot, off: off, extLen: extLen, hdrLen: uint32(hdrLen),
		length: uint64(len(payload)), checksum: sum, gen: gen, loaded: true, verified: verified,
		id: id.Clone(),
		meta: artifact.Meta{
			Length: int64(len(payload)), Checksum: sum, DType: opts.Meta.DType,
			Shape: append([]int64(nil), opts.Meta.Shape...), Created: created, Accessed: now,
			TTL: opts.Meta.TTL, Epoch: epoch,
		},
	}
	return e.commit(en, opts.Pin)
}

// reserve finds a free slot and extent for a store of extLen bytes,
// evicting per the policy until both fit. Victims are handed to the evict
// hook between attempts, with the lock released.
func (e *Engine) reserve(id artifact.ID, extLen uint64) (off, slot, gen uint64, err error) {
	for {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return 0, 0, 0, errClosed
		}
		if old := e.index[id.Hash]; old != nil && e.load(old) && !old.id.SameKey(id.Namespace, id.Key) {
			e.st.Collisions++
			e.mu.Unlock()
			return 0, 0, 0, fmt.Errorf("%s: put %s (held: %s): %w", e.o.Name, id, old.id, tiers.ErrCollision)
		}
		if len(e.freeSlots) > 0 {
			if o, ok := e.alloc.Alloc(extLen); ok {
				slot = e.freeSlots[len(e.freeSlots)-1]
				e.freeSlots = e.freeSlots[:len(e.freeSlots)-1]
				gen = e.nextGen
				e.nextGen++
				e.mu.Unlock()
				return o, slot, gen, nil
			}
		}
		fn := e.evictFn
		victim := e.evictOne(fn != nil)
		if victim == nil {
			e.mu.Unlock()
			return 0, 0, 0, fmt.Errorf("%s: put %s of %d bytes: %w", e.o.Name, id, extLen, tiers.ErrNoSpace)
		}
		e.mu.Unlock()
		if fn != nil {
			e.deliver(fn, victim)
		}
	}
}

// unreserve gives back a reservation whose store failed.
func (e *Engine) unreserve(off, extLen, slot uint64, published bool) {
	if published {
		_ = e.m.ClearSlot(e.slotOff(slot))
	}
	e.mu.Lock()
	e.m.Freed(int64(off))
	e.alloc.Free(off, extLen)
	e.freeSlots = append(e.freeSlots, slot)
	e.mu.Unlock()
}

// commit makes a written, published extent the artifact's current version.
func (e *Engine) commit(en *entry, pin bool) error {
	e.mu.Lock()
	old := e.index[en.hash]
	if old != nil && !e.load(old) {
		old = e.index[en.hash] // load dropped a corrupt entry
	}
	if old != nil && !old.id.SameKey(en.id.Namespace, en.id.Key) {
		// A colliding key was stored while we wrote: it keeps the id.
		e.st.Collisions++
		e.mu.Unlock()
		e.unreserve(en.off, en.extLen, en.slot, true)
		return fmt.Errorf("%s: put %s (held: %s): %w", e.o.Name, en.id, old.id, tiers.ErrCollision)
	}
	if old != nil {
		// The policy keeps the key (and its pins); the insert is a touch.
		en.pins = old.pins
		e.removeLocked(old)
	}
	e.o.Policy.Insert(en.hash)
	if pin {
		en.pins++
		e.o.Policy.Pin(en.hash)
	}
	e.index[en.hash] = en
	e.st.Puts++
	e.mu.Unlock()
	return nil
}

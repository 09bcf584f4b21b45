package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/extent"
	"github.com/stratacache/stratacache/tiers"
)

// spaceWait bounds how long a Put waits for space that evictions in
// progress or readers still hold.
const spaceWait = 5 * time.Second

// Put stores payload under id; see tiers.Tier.Put. The payload is written
// outside the lock into a reserved extent and published by its slot; the
// index switches to it only then, so readers see the old or the new payload.
// A versioned put is checked (newer than held, admitted by the guard) when it
// reserves, to spare the write, and again atomically when it commits.
func (e *Engine) Put(ctx context.Context, id artifact.ID, payload []byte, opts tiers.PutOptions) error {
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
	if err := e.acquire(); err != nil {
		return err
	}
	defer e.done()
	version := opts.Meta.Version
	off, slot, gen, err := e.reserve(ctx, id, extLen, version)
	if err != nil {
		return err
	}
	// From here every exit commits or aborts the reservation (which also
	// ends this put's entry in e.putting).
	sum, verified := opts.Meta.Checksum, false
	if !e.o.TrustPutChecksum || sum == 0 {
		sum, verified = artifact.Checksum(payload), true
	}
	if err := e.renewLeases(gen, version); err != nil {
		e.abort(id.Hash, off, extLen, slot, false)
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
		e.abort(id.Hash, off, extLen, slot, false)
		return fmt.Errorf("%s: put: %w", e.o.Name, err)
	}
	s := extent.Slot{
		HeaderLen: uint32(hdrLen), Generation: gen, KeyHash: id.Hash, Offset: off,
		Version: version, Length: uint64(len(payload)), Checksum: sum,
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
		err = e.sync()
	}
	if err != nil {
		e.abort(id.Hash, off, extLen, slot, published)
		return fmt.Errorf("%s: put %s: %w", e.o.Name, id, err)
	}
	en := &entry{
		hash: id.Hash, slot: slot, off: off, extLen: extLen, hdrLen: uint32(hdrLen),
		length: uint64(len(payload)), checksum: sum, gen: gen, version: version, loaded: true, verified: verified,
		id: id.Clone(),
		meta: artifact.Meta{
			Length: int64(len(payload)), Checksum: sum, DType: opts.Meta.DType,
			Shape: append([]int64(nil), opts.Meta.Shape...), Created: created, Accessed: now,
			TTL: opts.Meta.TTL, Epoch: epoch, Version: version,
		},
	}
	return e.commit(ctx, en, opts)
}

// reserve finds a free slot and extent for a store of extLen bytes,
// evicting per the policy until both fit, and registers the put in
// e.putting. Victims are handed to the evict hook between attempts, with
// the lock released; when nothing is left to evict but space is still held
// (by evictions in progress or by readers), it waits for it up to spaceWait
// or ctx.
func (e *Engine) reserve(ctx context.Context, id artifact.ID, extLen, version uint64) (off, slot, gen uint64, err error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return 0, 0, 0, err
		}
		old := e.lockLoaded(id.Hash)
		if e.closed {
			e.unlockClear()
			return 0, 0, 0, errClosed
		}
		if e.failed != nil {
			err := e.failedErr()
			e.unlockClear()
			return 0, 0, 0, err
		}
		if old != nil && !old.id.SameKey(id.Namespace, id.Key) {
			e.st.Collisions++
			e.unlockClear()
			return 0, 0, 0, fmt.Errorf("%s: put %s (held: %s): %w", e.o.Name, id, old.id, tiers.ErrCollision)
		}
		if version != 0 && old != nil && old.version >= version {
			e.st.Stale++
			e.unlockClear()
			return 0, 0, 0, tiers.ErrStale
		}
		if len(e.freeSlots) > 0 {
			if o, ok := e.alloc.Alloc(extLen); ok {
				slot = e.freeSlots[len(e.freeSlots)-1]
				e.freeSlots = e.freeSlots[:len(e.freeSlots)-1]
				gen = e.nextGen
				e.nextGen++
				e.putting[id.Hash]++
				e.unlockClear()
				return o, slot, gen, nil
			}
		}
		fn := e.evictFn
		victim := e.pickVictim(fn != nil)
		if victim != nil {
			if fn == nil {
				e.unlockClear()
				continue
			}
			e.mu.Unlock()
			e.deliver(ctx, fn, victim)
			continue
		}
		if e.pending == 0 && e.evictingBytes == 0 && len(e.toClear) == 0 {
			e.unlockClear()
			return 0, 0, 0, fmt.Errorf("%s: put %s of %d bytes: %w", e.o.Name, id, extLen, tiers.ErrNoSpace)
		}
		// Space is on its way back (an eviction in progress, a reader):
		// wait for it, within bounds.
		e.spaceWaits++
		ch := e.spaceCh
		e.unlockClear()
		if timer == nil {
			timer = time.NewTimer(spaceWait)
		}
		select {
		case <-ch:
		case <-timer.C:
			e.mu.Lock()
			e.spaceWaits--
			e.mu.Unlock()
			return 0, 0, 0, fmt.Errorf("%s: put %s of %d bytes (space held by readers or evictions): %w", e.o.Name, id, extLen, tiers.ErrNoSpace)
		case <-ctx.Done():
			e.mu.Lock()
			e.spaceWaits--
			e.mu.Unlock()
			return 0, 0, 0, ctx.Err()
		}
		e.mu.Lock()
		e.spaceWaits--
		e.mu.Unlock()
	}
}

// signalSpaceLocked wakes Puts waiting for space (mu held).
func (e *Engine) signalSpaceLocked() {
	if e.spaceWaits > 0 {
		close(e.spaceCh)
		e.spaceCh = make(chan struct{})
	}
}

// abort gives back a reservation whose store failed or was refused: the
// published slot (if any) is cleared first, outside the lock.
func (e *Engine) abort(hash, off, extLen, slot uint64, published bool) {
	clearOK := true
	if published {
		if err := e.m.ClearSlot(e.slotOff(slot)); err != nil {
			// The slot may survive on the medium: the tier can no longer
			// vouch for what a reopen would serve.
			e.fail(fmt.Errorf("clear slot: %w", err))
			clearOK = false
		}
	}
	e.mu.Lock()
	e.m.Freed(int64(off))
	e.alloc.Free(off, extLen)
	if clearOK {
		e.freeSlots = append(e.freeSlots, slot)
	}
	e.putEndLocked(hash)
	e.signalSpaceLocked()
	e.mu.Unlock()
}

// putEndLocked ends a put's registration in e.putting and wakes deletes
// waiting for it (mu held).
func (e *Engine) putEndLocked(hash uint64) {
	if e.putting[hash]--; e.putting[hash] <= 0 {
		delete(e.putting, hash)
	}
	if e.putWaits > 0 {
		close(e.putDone)
		e.putDone = make(chan struct{})
	}
}

// commit makes a written, published extent the artifact's current version:
// atomically, it must still be newer than what the index holds (and be
// admitted by opts.Guard); an eviction of the key in progress is waited for.
func (e *Engine) commit(ctx context.Context, en *entry, opts tiers.PutOptions) error {
	for {
		old := e.lockLoaded(en.hash)
		if old != nil && !old.id.SameKey(en.id.Namespace, en.id.Key) {
			// A colliding key was stored while we wrote: it keeps the id.
			e.st.Collisions++
			e.unlockClear()
			e.abort(en.hash, en.off, en.extLen, en.slot, true)
			return fmt.Errorf("%s: put %s (held: %s): %w", e.o.Name, en.id, old.id, tiers.ErrCollision)
		}
		if old != nil && old.evicting != nil {
			wait := old.evicting
			e.unlockClear()
			if err := waitEviction(ctx, wait); err != nil {
				e.abort(en.hash, en.off, en.extLen, en.slot, true)
				return fmt.Errorf("%s: put %s: %w", e.o.Name, en.id, err)
			}
			continue
		}
		if v := en.version; v != 0 && ((old != nil && old.version >= v) || (opts.Guard != nil && !opts.Guard.Admit(en.id, v))) {
			e.st.Stale++
			e.unlockClear()
			e.abort(en.hash, en.off, en.extLen, en.slot, true)
			return tiers.ErrStale
		}
		if old != nil {
			// The policy keeps the key (and its pins); the insert is a touch.
			en.pins = old.pins
			e.removeLocked(old)
		}
		e.o.Policy.Insert(en.hash)
		if opts.Pin {
			en.pins++
			e.o.Policy.Pin(en.hash)
		}
		e.index[en.hash] = en
		e.st.Puts++
		e.putEndLocked(en.hash)
		e.unlockClear()
		return nil
	}
}

// waitEviction waits until an eviction in progress has taken its victim
// out of the index, or ctx ends.
func waitEviction(ctx context.Context, ch chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for an eviction of the same key: %w", ctx.Err())
	}
}

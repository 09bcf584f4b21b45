package memory

import (
	"context"
	"errors"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// Get copies the payload of id into dst and returns dst[:n]. It fails with
// tiers.ErrShortBuffer (nothing copied) when dst is shorter than the payload.
// Misses return the bare sentinels (tiers.ErrNotFound, tiers.ErrCollision),
// so that the hot path does not allocate.
func (t *Tier) Get(dst []byte, id artifact.ID) ([]byte, error) {
	e, err := t.acquire(id)
	if err != nil {
		return nil, err
	}
	if len(dst) < len(e.data) {
		t.release(e)
		return nil, tiers.ErrShortBuffer
	}
	n := copy(dst, e.data)
	t.release(e)
	return dst[:n], nil
}

// View returns a zero-copy view of id's payload; see tiers.View. The view
// keeps the bytes (and the arena) alive through replacement, deletion,
// eviction and Close until it is released.
func (t *Tier) View(id artifact.ID) (tiers.View, error) {
	e, err := t.acquire(id)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// acquire finds id, takes a reference on its entry and records the access.
func (t *Tier) acquire(id artifact.ID) (*entry, error) {
	if t.closed.Load() {
		return nil, tiers.ErrClosed
	}
	if err := validateID(id); err != nil {
		return nil, err
	}
	sh := t.shardOf(id.Hash)
	sh.mu.RLock()
	e := sh.m[id.Hash]
	if e == nil {
		sh.mu.RUnlock()
		sh.misses.Add(1)
		return nil, tiers.ErrNotFound
	}
	if !e.sameKey(id) {
		sh.mu.RUnlock()
		sh.collisions.Add(1)
		sh.misses.Add(1)
		return nil, tiers.ErrCollision
	}
	e.refs.Add(1)
	sh.mu.RUnlock()
	now := time.Now().UnixNano()
	if e.expired(now) {
		t.release(e)
		t.expire(e)
		sh.misses.Add(1)
		return nil, tiers.ErrNotFound
	}
	sh.hits.Add(1)
	e.accessed.Store(now)
	t.touch(e.hash, now)
	return e, nil
}

// touch records an access in the policy: through the read buffer, or
// under policyMu with Config.ExactReads.
func (t *Tier) touch(h uint64, now int64) {
	if t.reads != nil {
		t.reads.Hit(h, now)
		return
	}
	t.policyMu.Lock()
	t.policy.Touch(h)
	t.policyMu.Unlock()
}

// lookup finds id without taking a reference (for metadata only).
func (t *Tier) lookup(id artifact.ID) (*entry, error) {
	if t.closed.Load() {
		return nil, tiers.ErrClosed
	}
	if err := validateID(id); err != nil {
		return nil, err
	}
	sh := t.shardOf(id.Hash)
	sh.mu.RLock()
	e := sh.m[id.Hash]
	sh.mu.RUnlock()
	if e == nil {
		return nil, tiers.ErrNotFound
	}
	if !e.sameKey(id) {
		sh.collisions.Add(1)
		return nil, tiers.ErrCollision
	}
	if e.expired(time.Now().UnixNano()) {
		t.expire(e)
		return nil, tiers.ErrNotFound
	}
	return e, nil
}

// Stat returns id's metadata without touching the payload or the policy.
func (t *Tier) Stat(id artifact.ID) (artifact.Meta, error) {
	e, err := t.lookup(id)
	if err != nil {
		return artifact.Meta{}, err
	}
	return e.Meta(), nil
}

// Contains reports whether the tier holds id under its full key (false on a
// collision, after Close and for an expired artifact).
func (t *Tier) Contains(id artifact.ID) bool {
	_, err := t.lookup(id)
	return err == nil
}

// Version reports the version of id the tier holds.
func (t *Tier) Version(id artifact.ID) (uint64, bool) {
	e, err := t.lookup(id)
	if err != nil {
		return 0, false
	}
	return e.meta.Version, true
}

// expire removes e if it is still the indexed entry of its id (lazy TTL);
// an entry being evicted is left to its eviction.
func (t *Tier) expire(e *entry) {
	sh := t.shardOf(e.hash)
	t.policyMu.Lock()
	sh.mu.Lock()
	if sh.m[e.hash] != e || e.evicting != nil {
		sh.mu.Unlock()
		t.policyMu.Unlock()
		return
	}
	delete(sh.m, e.hash)
	sh.mu.Unlock()
	t.policy.Remove(e.hash)
	t.policyMu.Unlock()
	t.artifacts.Add(-1)
	t.dropIndexRef(e)
}

// Delete removes id and reports whether it was present (with opts.Below
// set, only a version older than Below). A different key with the same id is
// left alone (false). An eviction of id in progress is waited for (with
// ctx) first. The error is ctx's or tiers.ErrClosed.
func (t *Tier) Delete(ctx context.Context, id artifact.ID, opts tiers.DeleteOptions) (bool, error) {
	if t.closed.Load() {
		return false, tiers.ErrClosed
	}
	if err := validateID(id); err != nil {
		return false, err
	}
	sh := t.shardOf(id.Hash)
	for {
		t.policyMu.Lock()
		sh.mu.Lock()
		e := sh.m[id.Hash]
		if e == nil || !e.sameKey(id) || (opts.Below != 0 && e.meta.Version >= opts.Below) {
			sh.mu.Unlock()
			t.policyMu.Unlock()
			return false, nil
		}
		if e.evicting != nil {
			wait := e.evicting
			sh.mu.Unlock()
			t.policyMu.Unlock()
			if err := waitEviction(ctx, wait); err != nil {
				return false, err
			}
			continue
		}
		delete(sh.m, id.Hash)
		sh.mu.Unlock()
		t.policy.Remove(id.Hash)
		t.policyMu.Unlock()
		t.artifacts.Add(-1)
		t.deletes.Add(1)
		t.dropIndexRef(e)
		return true, nil
	}
}

// Pin forbids evicting id until a matching Unpin. Pins nest and belong to
// the key: they survive replacement by a Put of the same key, and are
// forgotten when the artifact is deleted.
func (t *Tier) Pin(id artifact.ID) error {
	return t.adjustPin(id, true)
}

// Unpin undoes one Pin; unpinning an unpinned artifact is a no-op.
func (t *Tier) Unpin(id artifact.ID) error {
	return t.adjustPin(id, false)
}

func (t *Tier) adjustPin(id artifact.ID, pin bool) error {
	if t.closed.Load() {
		return tiers.ErrClosed
	}
	if err := validateID(id); err != nil {
		return err
	}
	sh := t.shardOf(id.Hash)
	t.policyMu.Lock()
	defer t.policyMu.Unlock()
	sh.mu.RLock()
	e := sh.m[id.Hash]
	sh.mu.RUnlock()
	switch {
	case e == nil:
		return tiers.ErrNotFound
	case !e.sameKey(id):
		sh.collisions.Add(1)
		return tiers.ErrCollision
	case pin:
		e.pins.Add(1)
		t.policy.Pin(id.Hash)
	case e.pins.Load() > 0:
		e.pins.Add(-1)
		t.policy.Unpin(id.Hash)
	}
	return nil
}

// SetTTL makes id expire remaining from now (0: never), in place; see
// tiers.TTLSetter.
func (t *Tier) SetTTL(id artifact.ID, remaining time.Duration) (bool, error) {
	e, err := t.lookup(id)
	if err != nil {
		if errors.Is(err, tiers.ErrNotFound) || errors.Is(err, tiers.ErrCollision) {
			return false, nil
		}
		return false, err
	}
	var ttl int64
	if remaining > 0 {
		ttl = time.Now().UnixNano() - e.meta.Created + int64(remaining)
	}
	e.ttl.Store(ttl)
	return true, nil
}

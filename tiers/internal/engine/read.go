package engine

import (
	"fmt"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// Get copies id's payload into dst and returns dst[:n]. A payload that fails
// its checksum is dropped and reported as a miss wrapping tiers.ErrCorrupt.
func (e *Engine) Get(dst []byte, id artifact.ID) ([]byte, error) {
	en, _, err := e.hold(id)
	if err != nil {
		return nil, err
	}
	if uint64(len(dst)) < en.length {
		e.mu.Lock()
		e.releaseLocked(en)
		last := e.closeMediaLocked()
		e.unlockClear()
		if last {
			_ = e.closeMedia()
		}
		return nil, fmt.Errorf("%s: get %s: %d < %d bytes: %w", e.o.Name, id, len(dst), en.length, tiers.ErrShortBuffer)
	}
	dst = dst[:en.length]
	err = e.m.ReadAt(dst, e.payloadOff(en))
	ok := err == nil && e.check(en, dst)
	e.unhold(en, ok, err == nil)
	if err != nil {
		return nil, fmt.Errorf("%s: get %s: %w: %w", e.o.Name, id, tiers.ErrNotFound, err)
	}
	if !ok {
		return nil, fmt.Errorf("%s: get %s: %w: %w", e.o.Name, id, tiers.ErrNotFound, tiers.ErrCorrupt)
	}
	return dst, nil
}

// View returns a view of id's payload: the mapped bytes on a mapped medium,
// else a private heap copy (the extent is not held after the copy).
func (e *Engine) View(id artifact.ID) (tiers.View, error) {
	en, meta, err := e.hold(id)
	if err != nil {
		return nil, err
	}
	v, err := e.openView(en, meta)
	if err != nil {
		e.mu.Lock()
		e.st.Misses++
		e.mu.Unlock()
		e.viewReleased()
		return nil, fmt.Errorf("%s: view %s: %w", e.o.Name, id, err)
	}
	e.mu.Lock()
	e.st.Hits++
	e.o.Policy.Touch(en.hash)
	en.meta.Accessed = e.now()
	e.mu.Unlock()
	return v, nil
}

// openView builds a view over a held entry (refs and views already counted
// by the caller; meta copied under the lock); on error both are dropped.
func (e *Engine) openView(en *entry, meta artifact.Meta) (tiers.View, error) {
	if w := e.m.Window(e.payloadOff(en), int64(en.length)); w != nil {
		if !e.check(en, w) {
			e.mu.Lock()
			e.unrefLocked(en)
			e.dropCorrupt(en)
			e.opDoneLocked() // hold counted an op; the view never opened
			e.unlockClear()
			return nil, fmt.Errorf("%w: %w", tiers.ErrNotFound, tiers.ErrCorrupt)
		}
		e.mu.Lock()
		e.opDoneLocked()
		e.mu.Unlock()
		return &mappedView{e: e, en: en, b: w, meta: meta}, nil
	}
	buf := make([]byte, en.length)
	err := e.m.ReadAt(buf, e.payloadOff(en))
	ok := err == nil && e.check(en, buf)
	e.mu.Lock()
	e.unrefLocked(en)
	if err == nil && !ok {
		e.dropCorrupt(en)
	}
	e.opDoneLocked()
	e.unlockClear()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", tiers.ErrNotFound, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: %w", tiers.ErrNotFound, tiers.ErrCorrupt)
	}
	return &heapView{e: e, b: buf, meta: meta}, nil
}

// hold finds id and keeps its extent alive (refs) and the medium open (ops
// and views) for a read outside the lock; it returns a copy of the entry's
// metadata taken under the lock.
func (e *Engine) hold(id artifact.ID) (*entry, artifact.Meta, error) {
	e.mu.Lock()
	en, err := e.findLocked(id)
	if err != nil {
		if !e.closed {
			e.st.Misses++
		}
		e.unlockClear()
		return nil, artifact.Meta{}, err
	}
	en.refs++
	e.ops++
	e.views++
	meta := en.meta
	meta.Pins = en.pins
	e.unlockClear()
	return en, meta, nil
}

// unhold ends a Get: ok is a served hit; readOK false means an I/O error.
func (e *Engine) unhold(en *entry, ok, readOK bool) {
	e.mu.Lock()
	switch {
	case ok:
		e.st.Hits++
		e.o.Policy.Touch(en.hash)
		en.meta.Accessed = e.now()
	case readOK:
		e.dropCorrupt(en)
		e.st.Misses++
	default:
		e.st.Misses++
	}
	e.releaseLocked(en)
	last := e.closeMediaLocked()
	e.unlockClear()
	if last {
		_ = e.closeMedia()
	}
}

// releaseLocked undoes hold.
func (e *Engine) releaseLocked(en *entry) {
	e.unrefLocked(en)
	e.views--
	e.opDoneLocked()
}

// check verifies b against en's checksum unless already verified.
func (e *Engine) check(en *entry, b []byte) bool {
	e.mu.Lock()
	skip := en.verified && !e.o.VerifyAlways
	e.mu.Unlock()
	if skip {
		return true
	}
	if artifact.Checksum(b) != en.checksum {
		return false
	}
	e.mu.Lock()
	en.verified = true
	e.mu.Unlock()
	return true
}

func (e *Engine) payloadOff(en *entry) int64 { return int64(en.off) + int64(en.hdrLen) }

// Stat returns id's metadata without reading the payload.
func (e *Engine) Stat(id artifact.ID) (artifact.Meta, error) {
	e.mu.Lock()
	en, err := e.findLocked(id)
	var m artifact.Meta
	if err == nil {
		m = en.meta
		m.Shape = append([]int64(nil), m.Shape...)
		m.Pins = en.pins
	}
	e.unlockClear()
	return m, err
}

// Contains reports whether id is held (full key compared).
func (e *Engine) Contains(id artifact.ID) bool {
	e.mu.Lock()
	_, err := e.findLocked(id)
	e.unlockClear()
	return err == nil
}

// Version reports the version of id the tier holds (full key compared).
func (e *Engine) Version(id artifact.ID) (uint64, bool) {
	e.mu.Lock()
	en, err := e.findLocked(id)
	var v uint64
	if err == nil {
		v = en.version
	}
	e.unlockClear()
	return v, err == nil
}

// Location is where a payload lives on the medium: what a read-only
// attacher needs to read it in place.
type Location struct {
	Slot       uint64 // index slot that publishes the extent
	Offset     uint64 // extent offset (its header)
	Length     uint64 // payload bytes
	Generation uint64
}

// Locate returns id's location.
func (e *Engine) Locate(id artifact.ID) (Location, error) {
	e.mu.Lock()
	en, err := e.findLocked(id)
	var loc Location
	if err == nil {
		loc = Location{Slot: en.slot, Offset: en.off, Length: en.length, Generation: en.gen}
	}
	e.unlockClear()
	return loc, err
}

package engine

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/internal/extent"
)

// Options configure an Engine.
type Options struct {
	Name     string
	Kind     tiers.Kind
	Geometry extent.Geometry
	// Policy orders evictions (a tiers/eviction policy); the engine
	// serialises its calls.
	Policy Policy
	// SyncEachPut calls Media.Sync before Put returns (acknowledged = durable).
	SyncEachPut bool
	// VerifyAlways checks the payload checksum on every read; otherwise on
	// the first read after open (a payload the engine hashed itself on Put
	// counts as verified).
	VerifyAlways bool
	// TrustPutChecksum takes a non-zero PutOptions.Meta.Checksum as the
	// payload's checksum instead of hashing the payload again (the upper tier
	// computed it); such a payload is verified on its first read.
	TrustPutChecksum bool
	// Epoch is written into every extent header that has none.
	Epoch uint64
	// Now returns unix nanoseconds; nil means time.Now.
	Now func() int64
}

// Policy is the part of eviction.Policy the engine uses; declared here so
// that the engine does not depend on the policies' package.
type Policy interface {
	Insert(key uint64)
	Touch(key uint64)
	Remove(key uint64)
	Evict() (key uint64, ok bool)
	Pin(key uint64)
	Unpin(key uint64)
}

// entry is the in-memory index record of one artifact.
type entry struct {
	hash     uint64
	slot     uint64 // slot index
	off      uint64 // extent offset
	extLen   uint64
	hdrLen   uint32
	length   uint64
	checksum uint64
	gen      uint64
	// loaded: the extent header was read and checked; id and meta are set.
	loaded   bool
	id       artifact.ID
	meta     artifact.Meta
	verified bool
	pins     int32
	refs     int32 // readers holding the extent
	removed  bool  // left the index; extent freed when refs reach 0
}

// Engine is the shared core of a persistent tier. Safe for concurrent use.
type Engine struct {
	m    Media
	o    Options
	geo  extent.Geometry
	now  func() int64
	mu   sync.Mutex
	cond *sync.Cond // signalled when ops drop to zero

	index     map[uint64]*entry
	alloc     *extent.Allocator
	freeSlots []uint64
	nextGen   uint64
	evictFn   tiers.EvictFunc
	closed    bool
	mediaDone bool
	ops       int // in-flight operations (Close waits for them)
	views     int // open views (the last Release closes a closed medium)
	pending   int64
	st        tiers.Stats
}

var errClosed = fmt.Errorf("%w", tiers.ErrClosed)

// Open builds an Engine over m, rebuilding the index from the slot table of
// o.Geometry (the caller has validated the superblock). Slots that fail
// their checks, lose an overlap or duplicate a newer slot are cleared.
func Open(m Media, o Options) (*Engine, error) {
	if o.Policy == nil {
		return nil, errors.New("engine: nil eviction policy")
	}
	e := &Engine{
		m:     m,
		o:     o,
		geo:   o.Geometry,
		now:   o.Now,
		index: make(map[uint64]*entry, min(o.Geometry.SlotCount, 1<<20)),
		alloc: extent.NewAllocator(o.Geometry.DataOff, o.Geometry.DataSize, uint64(o.Geometry.BlockSize)),
	}
	if e.now == nil {
		e.now = func() int64 { return time.Now().UnixNano() }
	}
	e.cond = sync.NewCond(&e.mu)
	e.st.Name = o.Name
	e.st.Kind = o.Kind
	e.st.CapacityBytes = int64(o.Geometry.DataSize)
	if err := e.recover(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Engine) slotOff(i uint64) int64 {
	return int64(e.geo.TableOff() + i*extent.SlotSize)
}

// SetEvictFunc installs the eviction hook.
func (e *Engine) SetEvictFunc(f tiers.EvictFunc) {
	e.mu.Lock()
	e.evictFn = f
	e.mu.Unlock()
}

// Stats fills s with a snapshot of the counters.
func (e *Engine) Stats(s *tiers.Stats) {
	e.mu.Lock()
	*s = e.st
	s.Artifacts = int64(len(e.index))
	s.PendingBytes = e.pending
	s.UsedBytes = int64(e.alloc.Size()-e.alloc.FreeBytes()) - e.pending
	e.mu.Unlock()
}

// FreeRanges reports the allocator's free-range count (fragmentation).
func (e *Engine) FreeRanges() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.alloc.FreeRanges()
}

// Geometry is the layout the engine serves.
func (e *Engine) Geometry() extent.Geometry { return e.geo }

// Sync makes everything written so far durable.
func (e *Engine) Sync() error {
	if err := e.acquire(); err != nil {
		return err
	}
	defer e.done()
	return e.m.Sync()
}

// acquire registers an in-flight operation: Close waits for it.
func (e *Engine) acquire() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errClosed
	}
	e.ops++
	return nil
}

func (e *Engine) done() {
	e.mu.Lock()
	e.ops--
	if e.ops == 0 {
		e.cond.Broadcast()
	}
	e.mu.Unlock()
}

// viewReleased is called (without e.mu) when a view lets go of the medium.
func (e *Engine) viewReleased() {
	e.mu.Lock()
	e.views--
	last := e.closed && e.views == 0 && e.ops == 0 && !e.mediaDone
	if last {
		e.mediaDone = true
	}
	e.mu.Unlock()
	if last {
		_ = e.m.Sync()
		_ = e.m.Close()
	}
}

// Close stops the engine: new calls fail with ErrClosed, in-flight ones
// finish first, then the medium is synced and closed, unless views are still
// open, in which case the last Release closes it. Safe to call twice.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	for e.ops > 0 {
		e.cond.Wait()
	}
	if e.views > 0 {
		e.mu.Unlock()
		return nil
	}
	e.mediaDone = true
	e.mu.Unlock()
	return errors.Join(e.m.Sync(), e.m.Close())
}

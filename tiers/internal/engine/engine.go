package engine

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/extent"
	"github.com/stratacache/stratacache/tiers"
)

// Options configure an Engine.
type Options struct {
	Name     string
	Kind     tiers.Kind
	Geometry extent.Geometry
	// Superblock is the medium's superblock as PreparePool left it; the
	// engine rewrites it to extend its leases and to fence a failed tier.
	Superblock extent.Superblock
	// Policy orders evictions (a tiers/eviction policy); the engine
	// serialises its calls.
	Policy Policy
	// SyncEachPut calls Media.Sync before Put and Delete return
	// (acknowledged = durable).
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
	// CloseWait bounds how long Close waits for operations in flight
	// (default 30 s).
	CloseWait time.Duration
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
	version  uint64
	// loaded: the extent header was read and checked; id and meta are set.
	loaded   bool
	id       artifact.ID
	meta     artifact.Meta
	verified bool
	pins     int32
	refs     int32 // readers holding the extent
	removed  bool  // left the index; extent freed when refs reach 0
	// evicting is non-nil while the entry is handed to the evict hook: it
	// stays indexed (readable) and is closed when it has left the index.
	// A Put or Delete of the same key waits for it.
	evicting chan struct{}
}

// Engine is the shared core of a persistent tier. Safe for concurrent use.
//
// Locking: mu guards the index, the allocator, the counters and the
// lifecycle. No medium I/O happens under mu (the mapping's Freed, a store
// of one word into memory, is the exception): header reads, slot writes and
// clears, payload copies and syncs all run outside it. leaseMu serialises
// the superblock rewrites.
type Engine struct {
	m   Media
	o   Options
	geo extent.Geometry
	now func() int64
	mu  sync.Mutex

	index     map[uint64]*entry
	alloc     *extent.Allocator
	freeSlots []uint64
	toClear   []uint64 // slots out of the index whose commit word is still set
	nextGen   uint64
	evictFn   tiers.EvictFunc
	closed    bool
	mediaDone bool
	ops       int           // in-flight operations (Close waits for them)
	views     int           // open views (the last Release closes a closed medium)
	drained   chan struct{} // closed when ops reach 0 after Close
	closeWait bool          // Close is waiting for drained: it closes the medium itself
	pending   int64
	st        tiers.Stats

	evictingBytes int64         // extents of victims handed to the hook
	spaceWaits    int           // Puts waiting for space
	spaceCh       chan struct{} // closed (and replaced) when space may appear
	failed        error         // set once: the tier refuses everything after it
	fenced        bool          // the superblock was marked failed durably

	// Puts in flight per key (between reserving and committing or giving
	// up): a Delete of the key waits for them, so that a copy whose slot is
	// already on the medium cannot outlive a delete that returned.
	putting  map[uint64]int32
	putDone  chan struct{} // closed (and replaced) when a Put ends while waited for
	putWaits int

	ttlMu sync.Mutex // serialises SetTTL's header rewrites

	// Leases (see extent.Superblock): read without leaseMu through atomics.
	leaseMu  sync.Mutex
	sb       extent.Superblock // guarded by leaseMu
	genLease atomic.Uint64
	verLease atomic.Uint64
	hwm      atomic.Uint64 // highest version given to this tier (incl. leases)

	sg syncGroup // coalesces concurrent syncs (syncgroup.go)
}

// Lease steps: a superblock rewrite per this many generations, and a
// version lease this far ahead of the newest version seen.
const (
	genLeaseStep = 1 << 16
	verLeaseStep = 1 << 20
)

var errClosed = fmt.Errorf("%w", tiers.ErrClosed)

// Open builds an Engine over m, rebuilding the index from the slot table of
// o.Geometry (the caller has validated the superblock). Slots that fail
// their checks, lose an overlap or duplicate a newer slot are cleared.
func Open(m Media, o Options) (*Engine, error) {
	if o.Policy == nil {
		return nil, errors.New("engine: nil eviction policy")
	}
	if o.CloseWait <= 0 {
		o.CloseWait = 30 * time.Second
	}
	e := &Engine{
		m:       m,
		o:       o,
		geo:     o.Geometry,
		now:     o.Now,
		index:   make(map[uint64]*entry, min(o.Geometry.SlotCount, 1<<20)),
		alloc:   extent.NewAllocator(o.Geometry.DataOff, o.Geometry.DataSize, uint64(o.Geometry.BlockSize)),
		putting: make(map[uint64]int32),
		putDone: make(chan struct{}),
		spaceCh: make(chan struct{}),
		sb:      o.Superblock,
	}
	if e.now == nil {
		e.now = func() int64 { return time.Now().UnixNano() }
	}
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

// VersionHighWater is the highest version this tier was ever given (its
// lease included): tiers.HighWaterMarker.
func (e *Engine) VersionHighWater() uint64 { return e.hwm.Load() }

// Failed returns the error that failed the tier (nil while it works) and
// whether the medium was fenced (tiers.Failer).
func (e *Engine) Failed() (error, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failed, e.fenced
}

// Sync makes everything written so far durable. A failed sync fails the
// tier: the kernel may have dropped the dirty pages it could not write, so
// a retry proving nothing, every later write is refused (fsyncgate).
func (e *Engine) Sync() error {
	if err := e.acquire(); err != nil {
		return err
	}
	defer e.done()
	return e.sync()
}

// fail puts the tier in its failed state (once) and fences the medium: the
// superblock is marked failed so that the next open refuses it unless reset.
func (e *Engine) fail(err error) {
	e.mu.Lock()
	first := e.failed == nil
	if first {
		e.failed = err
	}
	e.mu.Unlock()
	if first {
		e.fence()
	}
}

// fence marks the superblock failed (best effort: the medium just failed).
func (e *Engine) fence() {
	e.leaseMu.Lock()
	defer e.leaseMu.Unlock()
	e.sb.Flags |= extent.FlagFailed
	buf := make([]byte, extent.SuperblockSize)
	e.sb.Encode(buf)
	ok := e.m.WriteAt(buf, 0) == nil && e.m.Sync() == nil
	e.mu.Lock()
	e.fenced = ok
	e.mu.Unlock()
}

// failedErr is the error every call of a failed tier returns.
func (e *Engine) failedErr() error {
	return fmt.Errorf("%s: %w: %w", e.o.Name, tiers.ErrFailed, e.failed)
}

// acquire registers an in-flight operation: Close waits for it.
func (e *Engine) acquire() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errClosed
	}
	if e.failed != nil {
		return e.failedErr()
	}
	e.ops++
	return nil
}

func (e *Engine) done() {
	e.mu.Lock()
	e.opDoneLocked()
	last := e.closeMediaLocked()
	e.mu.Unlock()
	if last {
		_ = e.closeMedia()
	}
}

func (e *Engine) opDoneLocked() {
	e.ops--
	if e.ops == 0 && e.drained != nil {
		close(e.drained)
		e.drained = nil
	}
}

// closeMediaLocked reports whether the caller must close the medium: the
// engine is closed and nothing holds it any more.
func (e *Engine) closeMediaLocked() bool {
	if e.closed && !e.closeWait && e.views == 0 && e.ops == 0 && !e.mediaDone {
		e.mediaDone = true
		return true
	}
	return false
}

func (e *Engine) closeMedia() error {
	var syncErr error
	if err, _ := e.Failed(); err == nil {
		syncErr = e.m.Sync()
	}
	return errors.Join(syncErr, e.m.Close())
}

// viewReleased is called (without e.mu) when a view lets go of the medium.
func (e *Engine) viewReleased() {
	e.mu.Lock()
	e.views--
	last := e.closeMediaLocked()
	e.mu.Unlock()
	if last {
		_ = e.closeMedia()
	}
}

// Close stops the engine: new calls fail with ErrClosed, in-flight ones
// finish first (waited for up to Options.CloseWait), then the medium is
// synced and closed, unless views are still open or operations still run,
// in which case the last of them closes it. Safe to call twice.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	var drained chan struct{}
	if e.ops > 0 {
		drained = make(chan struct{})
		e.drained = drained
		e.closeWait = true
	}
	e.mu.Unlock()
	if drained != nil {
		t := time.NewTimer(e.o.CloseWait)
		defer t.Stop()
		select {
		case <-drained:
		case <-t.C:
			e.mu.Lock()
			e.closeWait = false
			n := e.ops
			e.mu.Unlock()
			return fmt.Errorf("%s: close: %d operations still in flight after %v (the last one closes the medium)", e.o.Name, n, e.o.CloseWait)
		}
	}
	e.mu.Lock()
	e.closeWait = false
	last := e.closeMediaLocked()
	e.mu.Unlock()
	if last {
		return e.closeMedia()
	}
	return nil
}

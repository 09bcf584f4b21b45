// Package powerloss is a fault-injecting medium for the persistent tiers'
// tests: it wraps the engine.Media of a cxl pool or a disk tier, remembers
// every write since the last successful Sync, and on Crash discards them the
// way a power cut does, optionally tearing a write at a 512-byte sector
// boundary. It can also fail a Sync, as a failing disk does (fsyncgate).
//
// It imports tiers/internal/engine (for the Media interface) only; it is
// used by tests.
package powerloss

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/stratacache/stratacache/extent"
	"github.com/stratacache/stratacache/tiers/internal/engine"
)

// SectorSize is the unit a torn write keeps or loses: a sector is written
// whole or not at all.
const SectorSize = 512

// ErrCrashed is returned by every write and sync after the crash point.
var ErrCrashed = errors.New("powerloss: medium crashed")

// ErrSyncInjected is the error of an injected failed Sync.
var ErrSyncInjected = errors.New("powerloss: injected sync failure (EIO)")

// Model says which unsynced writes survive a crash.
type Model int

const (
	// Ordered: a prefix of the unsynced writes survives, in the order they
	// were issued, and the write after it may be torn at a sector boundary
	// (the model: discard what was not synced, tear the last).
	Ordered Model = iota
	// Sectors: every 512-byte sector independently ends up as it was after
	// some prefix of the unsynced writes that touched it: the kernel's
	// write-back flushes pages in any order, so unsynced writes reach the
	// medium in any order and partly.
	Sectors
)

type write struct {
	off      int64
	old, new []byte
}

// Medium wraps an engine.Media. Safe for concurrent use.
type Medium struct {
	inner engine.Media

	mu       sync.Mutex
	log      []write // unsynced writes, oldest first
	writes   int     // writes so far (crash trigger)
	crashAt  int     // crash after this many writes (0: never)
	onCrash  func()  // called (once, mu held) when crashAt is reached
	crashed  bool
	failSync int // fail this many next Syncs
	syncs    int
}

// Wrap returns a Medium over m.
func Wrap(m engine.Media) *Medium { return &Medium{inner: m} }

// CrashAfter makes the n-th write from now on crash the medium right after
// it is applied (f runs then, under the medium's lock, typically Crash's
// work through CrashLocked); 0 disarms.
func (m *Medium) CrashAfter(n int, f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashAt, m.onCrash = 0, nil
	if n > 0 {
		m.crashAt, m.onCrash = m.writes+n, f
	}
}

// FailNextSyncs makes the next n Syncs fail with ErrSyncInjected, writing
// nothing (what they covered stays undurable: a later Crash discards it).
func (m *Medium) FailNextSyncs(n int) {
	m.mu.Lock()
	m.failSync = n
	m.mu.Unlock()
}

// Syncs counts successful Syncs.
func (m *Medium) Syncs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncs
}

// Crashed reports whether the medium crashed.
func (m *Medium) Crashed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.crashed
}

// Unsynced is the number of writes a crash now would decide about.
func (m *Medium) Unsynced() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.log)
}

// record applies a write of p at off through apply, remembering its
// pre-image; mu held.
func (m *Medium) record(off int64, n int, apply func() error) error {
	if m.crashed {
		return ErrCrashed
	}
	old := make([]byte, n)
	if err := m.inner.ReadAt(old, off); err != nil {
		return err
	}
	if err := apply(); err != nil {
		return err
	}
	nw := make([]byte, n)
	if err := m.inner.ReadAt(nw, off); err != nil {
		return err
	}
	m.log = append(m.log, write{off: off, old: old, new: nw})
	m.writes++
	if m.crashAt > 0 && m.writes >= m.crashAt {
		m.crashAt = 0
		if f := m.onCrash; f != nil {
			m.onCrash = nil
			f()
		}
	}
	return nil
}

func (m *Medium) ReadAt(p []byte, off int64) error { return m.inner.ReadAt(p, off) }

func (m *Medium) WriteAt(p []byte, off int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.record(off, len(p), func() error { return m.inner.WriteAt(p, off) })
}

func (m *Medium) PublishSlot(rec []byte, off int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.record(off, extent.SlotSize, func() error { return m.inner.PublishSlot(rec, off) })
}

func (m *Medium) ClearSlot(off int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.record(off, 8, func() error { return m.inner.ClearSlot(off) })
}

func (m *Medium) Window(off, n int64) []byte { return m.inner.Window(off, n) }

// Freed writes (on a mapping) the generation word of the extent at off.
func (m *Medium) Freed(off int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_ = m.record(off+extent.GenerationOffset, 8, func() error { m.inner.Freed(off); return nil })
}

func (m *Medium) Sync() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed {
		return ErrCrashed
	}
	if m.failSync > 0 {
		m.failSync--
		return ErrSyncInjected
	}
	if err := m.inner.Sync(); err != nil {
		return err
	}
	m.log = m.log[:0]
	m.syncs++
	return nil
}

// Close closes the wrapped medium (after a crash too: its content is then
// what survived the crash).
func (m *Medium) Close() error { return m.inner.Close() }

// Crash cuts the power now: what was not synced is discarded per model,
// and every later write or sync fails with ErrCrashed.
func (m *Medium) Crash(r *rand.Rand, model Model, tear bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.CrashLocked(r, model, tear)
}

// CrashLocked is Crash for a CrashAfter callback (the lock is held).
func (m *Medium) CrashLocked(r *rand.Rand, model Model, tear bool) {
	if m.crashed {
		return
	}
	m.crashed = true
	switch model {
	case Ordered:
		m.crashOrdered(r, tear)
	case Sectors:
		m.crashSectors(r)
	}
	m.log = nil
}

// crashOrdered keeps a random prefix of the unsynced writes, tears the next
// one at a sector boundary (when tear is set), and reverts the rest.
func (m *Medium) crashOrdered(r *rand.Rand, tear bool) {
	keep := r.IntN(len(m.log) + 1)
	for i := len(m.log) - 1; i >= keep; i-- {
		w := m.log[i]
		from := int64(0)
		if i == keep && tear {
			// Keep whole sectors from the start of the write.
			cuts := sectorCuts(w.off, int64(len(w.old)))
			from = cuts[r.IntN(len(cuts))] - w.off
		}
		m.restore(w.off+from, w.old[from:])
	}
}

// sectorCuts lists the offsets at which a write of n bytes at off can be
// torn: its start, every sector boundary inside it.
func sectorCuts(off, n int64) []int64 {
	cuts := []int64{off}
	for c := (off/SectorSize + 1) * SectorSize; c < off+n; c += SectorSize {
		cuts = append(cuts, c)
	}
	return cuts
}

// crashSectors sets every sector the unsynced writes touched to its content
// after a random prefix of the writes that touched it.
func (m *Medium) crashSectors(r *rand.Rand) {
	touched := map[int64][]int{} // sector -> indexes of writes touching it
	for i, w := range m.log {
		for s := w.off / SectorSize; s*SectorSize < w.off+int64(len(w.old)); s++ {
			touched[s] = append(touched[s], i)
		}
	}
	sectors := make([]int64, 0, len(touched))
	for s := range touched {
		sectors = append(sectors, s)
	}
	// Map order is random; make the draw depend on the seed only.
	slices.Sort(sectors)
	for _, s := range sectors {
		ws := touched[s]
		keep := r.IntN(len(ws) + 1)
		lo, hi := s*SectorSize, (s+1)*SectorSize
		// The sector before the first write touching it, then the first
		// keep writes applied.
		buf := make([]byte, SectorSize)
		if err := m.inner.ReadAt(buf, lo); err != nil {
			continue // outside the medium
		}
		for j := len(ws) - 1; j >= 0; j-- { // undo all, newest first
			applyRange(buf, lo, hi, m.log[ws[j]].off, m.log[ws[j]].old)
		}
		for j := 0; j < keep; j++ {
			applyRange(buf, lo, hi, m.log[ws[j]].off, m.log[ws[j]].new)
		}
		m.restore(lo, buf)
	}
}

// applyRange copies the part of data (written at off) that falls in
// [lo, hi) into buf (which holds [lo, hi)).
func applyRange(buf []byte, lo, hi, off int64, data []byte) {
	s, e := max(lo, off), min(hi, off+int64(len(data)))
	if s >= e {
		return
	}
	copy(buf[s-lo:e-lo], data[s-off:e-off])
}

func (m *Medium) restore(off int64, b []byte) {
	_ = m.inner.WriteAt(b, off)
}

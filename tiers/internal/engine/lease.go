package engine

import (
	"fmt"

	"github.com/stratacache/stratacache/extent"
	"github.com/stratacache/stratacache/tiers"
)

// initLeases sets the in-memory leases after recovery: the next generation
// starts above both the superblock's lease and every generation found, and
// the version high-water mark covers the lease and every version found.
func (e *Engine) initLeases(maxVersion uint64) {
	if e.sb.GenLease > e.nextGen {
		e.nextGen = e.sb.GenLease
	}
	e.genLease.Store(e.sb.GenLease)
	e.verLease.Store(e.sb.VerLease)
	e.hwm.Store(max(e.sb.VerLease, maxVersion))
}

// renewLeases extends the superblock's leases, before a slot carrying gen
// and version is written, when either would reach past them. The rewrite is
// rare (once per genLeaseStep stores, or when versions jump), so it is a
// plain write: ordered before the slot for a process crash, and a power
// loss that loses it loses the unsynced slots too. A failed write fails the
// tier.
func (e *Engine) renewLeases(gen, version uint64) error {
	if gen < e.genLease.Load() && version <= e.verLease.Load() {
		return nil
	}
	e.leaseMu.Lock()
	defer e.leaseMu.Unlock()
	changed := false
	if gen >= e.sb.GenLease {
		e.sb.GenLease = gen + genLeaseStep
		changed = true
	}
	if version > e.sb.VerLease {
		e.sb.VerLease = version + verLeaseStep
		changed = true
	}
	if changed {
		buf := make([]byte, extent.SuperblockSize)
		e.sb.Encode(buf)
		if err := e.m.WriteAt(buf, 0); err != nil {
			e.leaseMu.Unlock()
			e.fail(fmt.Errorf("write superblock lease: %w", err))
			e.leaseMu.Lock()
			return fmt.Errorf("%s: %w: %w", e.o.Name, tiers.ErrFailed, err)
		}
	}
	e.genLease.Store(e.sb.GenLease)
	e.verLease.Store(e.sb.VerLease)
	for {
		h := e.hwm.Load()
		if h >= e.sb.VerLease || e.hwm.CompareAndSwap(h, e.sb.VerLease) {
			break
		}
	}
	return nil
}

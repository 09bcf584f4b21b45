package engine

import (
	"fmt"
	"sort"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/extent"
)

// tableChunk is how much of the slot table recover reads per call.
const tableChunk = 1 << 20

// recover rebuilds the index from the slot table: one sequential pass over
// the table, then overlap and duplicate resolution (the higher generation
// wins), then the allocator from the surviving extents. Extent headers are
// checked lazily, when an artifact is first touched.
func (e *Engine) recover() error {
	g := e.geo
	var live []*entry
	buf := make([]byte, tableChunk)
	var stale []uint64
	for first := uint64(0); first < g.SlotCount; {
		n := min(g.SlotCount-first, tableChunk/extent.SlotSize)
		b := buf[:n*extent.SlotSize]
		if err := e.m.ReadAt(b, e.slotOff(first)); err != nil {
			return fmt.Errorf("engine: read slot table: %w", err)
		}
		for i := uint64(0); i < n; i++ {
			rec := b[i*extent.SlotSize : (i+1)*extent.SlotSize]
			if !extent.SlotLive(rec) {
				continue
			}
			s, err := extent.DecodeSlot(rec, g)
			if err != nil {
				stale = append(stale, first+i)
				continue
			}
			live = append(live, &entry{
				hash: s.KeyHash, slot: first + i, off: s.Offset, extLen: s.ExtentLen,
				hdrLen: s.HeaderLen, length: s.Length, checksum: s.Checksum, gen: s.Generation,
				version: s.Version,
			})
		}
		first += n
	}
	// Every slot read counts, losers below too: their generations and
	// versions were handed out.
	var maxVersion uint64
	for _, en := range live {
		e.nextGen = max(e.nextGen, en.gen+1)
		maxVersion = max(maxVersion, en.version)
	}
	// Overlaps: a crash between reusing an extent and clearing the slot of
	// its former owner leaves two slots on one range; the newer one wins.
	sort.Slice(live, func(i, j int) bool { return live[i].off < live[j].off })
	kept := live[:0]
	for _, en := range live {
		for en != nil && len(kept) > 0 {
			top := kept[len(kept)-1]
			if top.off+top.extLen <= en.off {
				break
			}
			if en.gen > top.gen {
				stale = append(stale, top.slot)
				kept = kept[:len(kept)-1]
			} else {
				stale = append(stale, en.slot)
				en = nil
			}
		}
		if en != nil {
			kept = append(kept, en)
		}
	}
	// Duplicates: a crash between publishing a replacement and clearing the
	// old slot leaves two slots of one id; the newer one wins: the higher
	// version (a versioned put only replaces an older version), then the
	// later store.
	sort.Slice(kept, func(i, j int) bool {
		if kept[i].version != kept[j].version {
			return kept[i].version < kept[j].version
		}
		return kept[i].gen < kept[j].gen
	})
	used := make([]extent.Range, 0, len(kept))
	for _, en := range kept {
		if old, ok := e.index[en.hash]; ok {
			// Keep the older version unless the newer one is whole: after a
			// power loss the newer slot may be on the medium without its
			// payload, and the older one was acknowledged.
			if !e.intact(en) {
				stale = append(stale, en.slot)
				continue
			}
			stale = append(stale, old.slot)
		}
		e.index[en.hash] = en
	}
	if e.nextGen == 0 {
		e.nextGen = 1
	}
	e.initLeases(maxVersion)
	inIndex := make([]bool, g.SlotCount)
	sort.Slice(kept, func(i, j int) bool { return kept[i].gen < kept[j].gen })
	for _, en := range kept {
		if e.index[en.hash] == en {
			used = append(used, extent.Range{Off: en.off, Len: en.extLen})
			inIndex[en.slot] = true
			e.o.Policy.Insert(en.hash) // oldest first: recency follows generation
		}
	}
	for _, s := range stale {
		if err := e.m.ClearSlot(e.slotOff(s)); err != nil {
			return fmt.Errorf("engine: clear stale slot %d: %w", s, err)
		}
	}
	if err := e.alloc.Rebuild(used); err != nil {
		return fmt.Errorf("engine: rebuild allocator: %w", err)
	}
	e.freeSlots = make([]uint64, 0, g.SlotCount-uint64(len(used)))
	for s := g.SlotCount; s > 0; s-- {
		if !inIndex[s-1] {
			e.freeSlots = append(e.freeSlots, s-1)
		}
	}
	return nil
}

// intact reads and checks en's header and payload (recovery of duplicates
// only: rare, so a full read is affordable).
func (e *Engine) intact(en *entry) bool {
	buf := make([]byte, uint64(en.hdrLen)+en.length)
	if err := e.m.ReadAt(buf, int64(en.off)); err != nil {
		return false
	}
	h, n, err := extent.DecodeHeader(buf)
	if err != nil || h.Generation != en.gen || h.KeyHash != en.hash || h.Length != en.length ||
		h.Checksum != en.checksum || uint64(n) != uint64(en.hdrLen) {
		return false
	}
	if artifact.Checksum(buf[n:]) != en.checksum {
		return false
	}
	en.verified = true
	return true
}

package cluster

import (
	"sync"
	"sync/atomic"

	"github.com/stratacache/stratacache/tiers"
)

// dirShards spreads the directory over independently locked maps.
const dirShards = 32

// evictSample is how many entries a full shard looks at to pick a victim.
const evictSample = 8

// DirectoryBytesPerEntry is the heap cost of one entry as measured at
// 1,000,000 entries (TestDirectoryBytesPerEntry, RunBench): an 8-byte key
// and a 16-byte entry per Go swiss-map slot plus a control byte, at the load
// factor the map happens to be at (7/16 to 7/8).
const DirectoryBytesPerEntry = 56

// Owner says which node holds an artifact, in which kind of tier, as of
// which version (the owner's hybrid clock when it stored it).
type Owner struct {
	Node  string
	Epoch uint64
	Kind  tiers.Kind
	Ver   uint64
}

// entry is a directory value: 16 bytes. kind 0 marks a tombstone: the
// owner deleted the artifact at ver, so older puts still travelling through
// relays cannot bring it back. Tombstones are swept after a while
// (SweepTombstones) and are evicted first.
type entry struct {
	ver  uint64
	slot uint16
	kind uint8
}

type dirShard struct {
	mu    sync.RWMutex
	m     map[uint64]entry
	tombs int
}

// nodeSlot is a node the directory has heard of. Entries name nodes by slot
// so that an entry stays 16 bytes. A node that dies or restarts gets a new
// slot; the old one is retired, its entries dropped in the background, and
// then reused.
type nodeSlot struct {
	name    string
	epoch   uint64
	alive   bool
	retired bool
}

// Directory maps artifact ids (their 64-bit hash) to owners. It is safe for
// concurrent use.
//
// Memory is bounded: at most maxEntries entries (DirectoryBytesPerEntry
// each). A full shard evicts, among evictSample entries it iterates from a
// random point, a tombstone, else the oldest entry owned by another node;
// it evicts one of this node's own entries (what its push/pull snapshot is
// built from) only when the shard holds nothing else. An
// evicted entry costs a miss or a detour through the artifact's home node,
// never a wrong answer: the serving node compares the full key.
//
// Entries are accepted only for live nodes at their current epoch; a node
// that leaves or dies, or reappears with a new epoch, loses its entries.
type Directory struct {
	self     string
	perShard int
	shards   [dirShards]dirShard

	nodesMu sync.RWMutex
	slots   []nodeSlot
	free    []uint16
	byName  map[string]uint16

	evictions atomic.Uint64
	refused   atomic.Uint64

	// retireFn, when set (before the directory is shared), takes retired
	// slots to drop in the background; nil drops them inline.
	retireFn func(slot int)
}

// Refused counts updates dropped because their owner was unknown, dead or
// of an older epoch.
func (d *Directory) Refused() uint64 { return d.refused.Load() }

// NewDirectory returns an empty directory for node self, holding at most
// maxEntries entries (0: unbounded).
func NewDirectory(self string, selfEpoch uint64, maxEntries int) *Directory {
	d := &Directory{self: self, byName: map[string]uint16{}}
	if maxEntries > 0 {
		d.perShard = max(1, maxEntries/dirShards)
	}
	for i := range d.shards {
		d.shards[i].m = map[uint64]entry{}
	}
	d.SetNode(self, selfEpoch, true)
	return d
}

func (d *Directory) shard(h uint64) *dirShard {
	// The id hash is already uniform; its top bits pick the shard so that the
	// map (which uses the low bits) stays well spread.
	return &d.shards[h>>(64-5)]
}

// SetNode records that node name is alive (or not) at epoch and drops the
// entries this ends: those of a node going down, or of its older epoch. An
// epoch older than the one known is ignored. It reports whether entries
// were dropped. The drop scans the directory; memberlist callbacks use
// markNode and hand the scan to a worker.
func (d *Directory) SetNode(name string, epoch uint64, alive bool) bool {
	retired := d.markNode(name, epoch, alive)
	if retired < 0 {
		return false
	}
	d.dropRetired(uint16(retired))
	return true
}

// markNode updates the node table without scanning: it returns the slot
// retired by the change (its entries must go: dropRetired), or -1.
func (d *Directory) markNode(name string, epoch uint64, alive bool) int {
	d.nodesMu.Lock()
	defer d.nodesMu.Unlock()
	slot, ok := d.byName[name]
	if !ok {
		d.newSlotLocked(name, epoch, alive)
		return -1
	}
	s := &d.slots[slot]
	if epoch < s.epoch || (epoch == s.epoch && alive == s.alive) {
		return -1
	}
	if !s.alive {
		// A dead slot holds no entries: revive it in place.
		s.epoch, s.alive = epoch, alive
		return -1
	}
	// Alive before, and now dead or a new epoch: the slot's entries end.
	s.retired, s.alive = true, false
	delete(d.byName, name)
	d.newSlotLocked(name, epoch, alive)
	return int(slot)
}

func (d *Directory) newSlotLocked(name string, epoch uint64, alive bool) {
	ns := nodeSlot{name: name, epoch: epoch, alive: alive}
	if n := len(d.free); n > 0 {
		slot := d.free[n-1]
		d.free = d.free[:n-1]
		d.slots[slot] = ns
		d.byName[name] = slot
		return
	}
	if len(d.slots) >= 1<<16 {
		return // 65,536 nodes at once: refuse more rather than alias
	}
	d.byName[name] = uint16(len(d.slots))
	d.slots = append(d.slots, ns)
}

// slotFor resolves an owner for an update: known, alive, at this epoch (a
// newer epoch is adopted, dropping the old one's entries).
func (d *Directory) slotFor(name string, epoch uint64) (uint16, bool) {
	d.nodesMu.RLock()
	slot, ok := d.byName[name]
	var s nodeSlot
	if ok {
		s = d.slots[slot]
	}
	d.nodesMu.RUnlock()
	if !ok || !s.alive || epoch < s.epoch {
		d.refused.Add(1)
		return 0, false
	}
	if epoch > s.epoch {
		// A newer incarnation seen in an update: adopt it. The old one's
		// entries are dropped by retireFn (the node's worker) when set, so
		// that a gossip callback never scans the directory.
		if r := d.markNode(name, epoch, true); r >= 0 {
			if d.retireFn != nil {
				d.retireFn(r)
			} else {
				d.dropRetired(uint16(r))
			}
		}
		return d.slotFor(name, epoch)
	}
	return slot, true
}

// dropRetired removes a retired slot's entries and frees the slot.
func (d *Directory) dropRetired(slot uint16) {
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		for h, e := range sh.m {
			if e.slot == slot {
				if e.kind == 0 {
					sh.tombs--
				}
				delete(sh.m, h)
			}
		}
		sh.mu.Unlock()
	}
	d.nodesMu.Lock()
	d.slots[slot] = nodeSlot{}
	d.free = append(d.free, slot)
	d.nodesMu.Unlock()
}

// Put records that owner (at epoch) holds hash in a tier of kind, as of
// ver. The newest version wins; it reports whether the directory changed.
func (d *Directory) Put(owner string, epoch, hash uint64, kind tiers.Kind, ver uint64) bool {
	slot, ok := d.slotFor(owner, epoch)
	if !ok {
		return false
	}
	d.nodesMu.RLock()
	selfSlot := d.byName[d.self]
	d.nodesMu.RUnlock()
	sh := d.shard(hash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if kind == 0 {
		kind = tiers.KindMemory // 0 is the tombstone mark
	}
	old, had := sh.m[hash]
	if had && (old.ver > ver || (old.ver == ver && old.slot >= slot)) {
		return false
	}
	if !had && d.perShard > 0 && len(sh.m) >= d.perShard {
		d.evictLocked(sh, selfSlot)
	}
	if had && old.kind == 0 {
		sh.tombs--
	}
	sh.m[hash] = entry{ver: ver, slot: slot, kind: uint8(kind)}
	return true
}

// evictLocked removes one entry of a full shard (see Directory).
func (d *Directory) evictLocked(sh *dirShard, selfSlot uint16) {
	var victim uint64
	var best entry
	found, n := false, 0
	rank := func(e entry) int { // lower goes first
		switch {
		case e.kind == 0:
			return 0
		case e.slot != selfSlot:
			return 1
		}
		return 2
	}
	for h, e := range sh.m {
		better := !found || rank(e) < rank(best) || (rank(e) == rank(best) && e.ver < best.ver)
		if better {
			victim, best, found = h, e, true
		}
		// Past the sample, look on only while every entry seen is ours.
		if n++; n >= evictSample && rank(best) < 2 {
			break
		}
	}
	if found {
		if best.kind == 0 {
			sh.tombs--
		}
		delete(sh.m, victim)
		d.evictions.Add(1)
	}
}

// Delete forgets that owner holds hash, unless a newer version (or another
// owner) has replaced the entry. It reports whether the directory changed.
func (d *Directory) Delete(owner string, epoch, hash uint64, ver uint64) bool {
	slot, ok := d.slotFor(owner, epoch)
	if !ok {
		return false
	}
	d.nodesMu.RLock()
	selfSlot := d.byName[d.self]
	d.nodesMu.RUnlock()
	sh := d.shard(hash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, had := sh.m[hash]
	if had && (e.ver > ver || (e.kind != 0 && e.slot != slot) || (e.kind == 0 && e.ver == ver)) {
		return false
	}
	if !had && d.perShard > 0 && len(sh.m) >= d.perShard {
		d.evictLocked(sh, selfSlot)
	}
	if !had || e.kind != 0 {
		sh.tombs++
	}
	sh.m[hash] = entry{ver: ver, slot: slot}
	return !had || e.kind != 0
}

// SweepTombstones removes tombstones older than ver cutoff; it returns how
// many went.
func (d *Directory) SweepTombstones(cutoff uint64) int {
	n := 0
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		if sh.tombs > 0 {
			for h, e := range sh.m {
				if e.kind == 0 && e.ver < cutoff {
					delete(sh.m, h)
					sh.tombs--
					n++
				}
			}
		}
		sh.mu.Unlock()
	}
	return n
}

// Forget drops hash's entry if it still names owner (a fetch from it
// missed: the entry was stale).
func (d *Directory) Forget(owner string, hash uint64) {
	d.nodesMu.RLock()
	slot, ok := d.byName[owner]
	d.nodesMu.RUnlock()
	if !ok {
		return
	}
	sh := d.shard(hash)
	sh.mu.Lock()
	if e, had := sh.m[hash]; had && e.slot == slot && e.kind != 0 {
		delete(sh.m, hash)
	}
	sh.mu.Unlock()
}

// Lookup returns hash's owner.
func (d *Directory) Lookup(hash uint64) (Owner, bool) {
	sh := d.shard(hash)
	sh.mu.RLock()
	e, ok := sh.m[hash]
	sh.mu.RUnlock()
	if !ok || e.kind == 0 {
		return Owner{}, false
	}
	d.nodesMu.RLock()
	s := d.slots[e.slot]
	d.nodesMu.RUnlock()
	if !s.alive {
		return Owner{}, false // retired: its entries are being dropped
	}
	return Owner{Node: s.name, Epoch: s.epoch, Kind: tiers.Kind(e.kind), Ver: e.ver}, true
}

// Len is the number of entries (tombstones not counted).
func (d *Directory) Len() int {
	n := 0
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.RLock()
		n += len(sh.m) - sh.tombs
		sh.mu.RUnlock()
	}
	return n
}

// CountOwnedBy is the number of entries naming node.
func (d *Directory) CountOwnedBy(node string) int {
	d.nodesMu.RLock()
	slot, ok := d.byName[node]
	d.nodesMu.RUnlock()
	if !ok {
		return 0
	}
	n := 0
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.RLock()
		for _, e := range sh.m {
			if e.slot == slot && e.kind != 0 {
				n++
			}
		}
		sh.mu.RUnlock()
	}
	return n
}

// Evictions counts entries dropped to stay under the cap.
func (d *Directory) Evictions() uint64 { return d.evictions.Load() }

// Record is one directory entry as exported for gossip.
type Record struct {
	Hash uint64
	Kind tiers.Kind
	Ver  uint64
	Del  bool
}

// ownerRecords calls f for every owner with its live epoch and entries
// (records reused between calls; f must copy what it keeps). Only owners
// accepted by keep are visited.
func (d *Directory) ownerRecords(keep func(name string) bool, f func(name string, epoch uint64, recs []Record)) {
	d.nodesMu.RLock()
	slots := append([]nodeSlot(nil), d.slots...)
	d.nodesMu.RUnlock()
	var recs []Record
	for slot, s := range slots {
		if !s.alive || s.retired || !keep(s.name) {
			continue
		}
		recs = recs[:0]
		for i := range d.shards {
			sh := &d.shards[i]
			sh.mu.RLock()
			for h, e := range sh.m {
				if e.slot == uint16(slot) && e.kind != 0 {
					recs = append(recs, Record{Hash: h, Kind: tiers.Kind(e.kind), Ver: e.ver})
				}
			}
			sh.mu.RUnlock()
		}
		f(s.name, s.epoch, recs)
	}
}

// replaceOwned applies an authoritative snapshot of owner's entries taken
// at snapVer: entries of owner older than snapVer and absent from the
// snapshot are dropped, the snapshot's records are put. It reports whether
// the directory changed.
func (d *Directory) replaceOwned(owner string, epoch, snapVer uint64, recs []Record) bool {
	slot, ok := d.slotFor(owner, epoch)
	if !ok {
		return false
	}
	in := make(map[uint64]struct{}, len(recs))
	for _, r := range recs {
		in[r.Hash] = struct{}{}
	}
	changed := false
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		for h, e := range sh.m {
			if e.slot != slot || e.ver > snapVer {
				continue
			}
			if _, keep := in[h]; !keep && e.kind != 0 {
				delete(sh.m, h)
				changed = true
			}
		}
		sh.mu.Unlock()
	}
	for _, r := range recs {
		if d.Put(owner, epoch, r.Hash, r.Kind, r.Ver) {
			changed = true
		}
	}
	return changed
}

package cluster

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/stratacache/stratacache/tiers"
)

// dirShards spreads the directory over independently locked maps.
const dirShards = 32

// evictSample is how many entries a full shard looks at to pick a victim.
const evictSample = 8

// DirectoryBytesPerEntry is the heap cost of one entry with one holder as
// measured at 1,000,000 entries (TestDirectoryBytesPerEntry, RunBench): an
// 8-byte key and a 24-byte entry (the first holder inline) per Go
// swiss-map slot plus a control byte, at the load factor the map happens to
// be at (7/16 to 7/8): 84 bytes measured. Further holders add a slice:
// 8 + 24 bytes plus 16 per holder after the first.
const DirectoryBytesPerEntry = 84

// Owner is one holder of an artifact: which node, at which epoch, in which
// kind of tier, as of which version (the holder's hybrid clock when it
// stored it).
type Owner struct {
	Node  string
	Epoch uint64
	Kind  tiers.Kind
	Ver   uint64
}

// holder is one node's record in an entry's holder set: 16 bytes. kind 0
// marks a tombstone: that holder dropped the artifact at ver, so older
// puts of the same holder still travelling cannot bring its copy back. A
// tombstone never hides another holder's copy.
type holder struct {
	ver  uint64
	slot uint16
	kind uint8
}

// holderSet is a directory value: every node known to hold the artifact.
type holderSet []holder

func (s holderSet) find(slot uint16) int {
	for i := range s {
		if s[i].slot == slot {
			return i
		}
	}
	return -1
}

func (s holderSet) live() bool {
	for _, h := range s {
		if h.kind != 0 {
			return true
		}
	}
	return false
}

func (s holderSet) tombs() int {
	n := 0
	for _, h := range s {
		if h.kind == 0 {
			n++
		}
	}
	return n
}

// entry is a directory value: the first holder inline (most artifacts have
// one) and the others, if any, behind a pointer, so that a one-holder
// entry is 24 bytes with no allocation of its own.
type entry struct {
	first holder
	rest  *[]holder
}

// list appends e's holders to buf.
func (e entry) list(buf holderSet) holderSet {
	buf = append(buf, e.first)
	if e.rest != nil {
		buf = append(buf, *e.rest...)
	}
	return buf
}

func makeEntry(s holderSet) entry {
	e := entry{first: s[0]}
	if len(s) > 1 {
		rest := []holder(slices.Clone(s[1:]))
		e.rest = &rest
	}
	return e
}

type dirShard struct {
	mu    sync.RWMutex
	m     map[uint64]entry
	live  int // entries with at least one live holder
	tombs int // tombstone holders
	// tombed is the entries with a tombstone (what a digest's or a
	// sweep's tombstone collection visits, instead of every entry).
	tombed map[uint64]struct{}
	// dig is each holder slot's digest of its live records here, per
	// bucket, and slotTombs its tombstones: kept on every change so that a
	// digest request costs no scan.
	dig       map[uint16]*[digestBuckets]uint64
	slotTombs map[uint16]int
}

// account adds (sign 1) or removes (-1) s's holders from the per-slot
// digests and tombstone counts (xor: adding and removing are the same).
func (sh *dirShard) account(hash uint64, s holderSet, sign int) {
	b := bucketOf(hash)
	for _, x := range s {
		if x.kind == 0 {
			sh.slotTombs[x.slot] += sign
			continue
		}
		d := sh.dig[x.slot]
		if d == nil {
			d = new([digestBuckets]uint64)
			sh.dig[x.slot] = d
		}
		d[b] ^= recDigest(Record{Hash: hash, Kind: tiers.Kind(x.kind), Ver: x.ver})
	}
}

// set replaces hash's holder set (deleting the entry when s is empty),
// keeping the shard's counters.
func (sh *dirShard) set(hash uint64, old, s holderSet) {
	sh.account(hash, old, -1)
	sh.account(hash, s, 1)
	if old.live() {
		sh.live--
	}
	sh.tombs -= old.tombs()
	if len(s) == 0 {
		delete(sh.m, hash)
		delete(sh.tombed, hash)
		return
	}
	if s.live() {
		sh.live++
	}
	if t := s.tombs(); t > 0 {
		sh.tombs += t
		sh.tombed[hash] = struct{}{}
	} else {
		delete(sh.tombed, hash)
	}
	sh.m[hash] = makeEntry(s)
}

// get returns hash's holders (appended to buf) and whether it has an entry.
func (sh *dirShard) get(hash uint64, buf holderSet) (holderSet, bool) {
	e, ok := sh.m[hash]
	if !ok {
		return buf, false
	}
	return e.list(buf), true
}

// nodeSlot is a node the directory has heard of. Holders name nodes by
// slot so that a holder stays 16 bytes. A node that dies or restarts gets
// a new slot; the old one is retired, its holders dropped in the
// background, and then reused.
type nodeSlot struct {
	name    string
	epoch   uint64
	alive   bool
	retired bool
}

// Directory maps artifact ids (their 64-bit hash) to their holder sets. It
// is safe for concurrent use.
//
// Each holder is versioned on its own: a store, eviction or delete on one
// node changes that node's record and no other, so two copies on two nodes
// are both found, and dropping one keeps the other.
//
// Memory is bounded: at most maxEntries entries. A full shard evicts, among
// evictSample entries it iterates from a random point, an entry of
// tombstones only, else the oldest entry this node does not hold; it evicts
// an entry this node holds only when the shard holds nothing else. An
// evicted entry costs a miss, never a wrong answer: the serving node
// compares the full key.
//
// Holders are accepted only for live nodes at their current epoch; a node
// that leaves or dies, or reappears with a new epoch, loses its holders.
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
		d.shards[i].dig = map[uint16]*[digestBuckets]uint64{}
		d.shards[i].slotTombs = map[uint16]int{}
		d.shards[i].tombed = map[uint64]struct{}{}
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
// holders this ends: those of a node going down, or of its older epoch. An
// epoch older than the one known is ignored. It reports whether holders
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
// retired by the change (its holders must go: dropRetired), or -1.
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
		// A dead slot holds nothing: revive it in place.
		s.epoch, s.alive = epoch, alive
		return -1
	}
	// Alive before, and now dead or a new epoch: the slot's holders end.
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

// slotFor resolves a holder for an update: known, alive, at this epoch (a
// newer epoch is adopted, dropping the old one's holders).
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
		// holders are dropped by retireFn (the node's worker) when set, so
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

func (d *Directory) selfSlot() uint16 {
	d.nodesMu.RLock()
	defer d.nodesMu.RUnlock()
	return d.byName[d.self]
}

// dropRetired removes a retired slot's holders and frees the slot.
func (d *Directory) dropRetired(slot uint16) {
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		var buf [4]holder
		for h, e := range sh.m {
			s := e.list(buf[:0])
			if j := s.find(slot); j >= 0 {
				sh.set(h, s, slices.Delete(slices.Clone(s), j, j+1))
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
// ver. Only owner's own record is compared and replaced, newest version
// winning; other holders are untouched. It reports whether the directory
// changed.
func (d *Directory) Put(owner string, epoch, hash uint64, kind tiers.Kind, ver uint64) bool {
	slot, ok := d.slotFor(owner, epoch)
	if !ok {
		return false
	}
	if kind == 0 {
		kind = tiers.KindMemory // 0 is the tombstone mark
	}
	return d.update(slot, hash, holder{ver: ver, slot: slot, kind: uint8(kind)})
}

// Delete records that owner dropped its copy of hash at ver (a tombstone
// for owner's record alone), unless owner's record is as new already. It
// reports whether a live copy was removed or a first tombstone written
// (what is worth passing on).
func (d *Directory) Delete(owner string, epoch, hash uint64, ver uint64) bool {
	slot, ok := d.slotFor(owner, epoch)
	if !ok {
		return false
	}
	return d.update(slot, hash, holder{ver: ver, slot: slot})
}

func (d *Directory) update(slot uint16, hash uint64, nh holder) bool {
	sh := d.shard(hash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var buf, nbuf [4]holder
	old, had := sh.get(hash, buf[:0])
	i := old.find(slot)
	if i >= 0 && old[i].ver >= nh.ver {
		return false
	}
	if !had && d.perShard > 0 && len(sh.m) >= d.perShard {
		d.evictLocked(sh, d.selfSlot())
	}
	s := append(nbuf[:0], old...)
	changed := true
	if i >= 0 {
		changed = nh.kind != 0 || s[i].kind != 0
		s[i] = nh
	} else {
		s = append(s, nh)
	}
	sh.set(hash, old, s)
	return changed
}

// evictLocked removes one entry of a full shard (see Directory).
func (d *Directory) evictLocked(sh *dirShard, self uint16) {
	var victim uint64
	var best holderSet
	found, n := false, 0
	rank := func(s holderSet) int { // lower goes first
		switch {
		case !s.live():
			return 0
		case s.find(self) < 0:
			return 1
		}
		return 2
	}
	newest := func(s holderSet) uint64 {
		var v uint64
		for _, h := range s {
			v = max(v, h.ver)
		}
		return v
	}
	for h, e := range sh.m {
		s := e.list(nil)
		better := !found || rank(s) < rank(best) || (rank(s) == rank(best) && newest(s) < newest(best))
		if better {
			victim, best, found = h, s, true
		}
		// Past the sample, look on only while every entry seen is ours.
		if n++; n >= evictSample && rank(best) < 2 {
			break
		}
	}
	if found {
		sh.set(victim, best, nil)
		d.evictions.Add(1)
	}
}

// SweepTombstones removes tombstones older than ver cutoff; it returns how
// many went.
func (d *Directory) SweepTombstones(cutoff uint64) int {
	n := 0
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		var buf [4]holder
		for _, h := range sh.tombedHashes() {
			s, _ := sh.get(h, buf[:0])
			keep := make(holderSet, 0, len(s))
			for _, x := range s {
				if x.kind == 0 && x.ver < cutoff {
					n++
					continue
				}
				keep = append(keep, x)
			}
			if len(keep) != len(s) {
				sh.set(h, s, keep)
			}
		}
		sh.mu.Unlock()
	}
	return n
}

// tombedHashes lists the entries with a tombstone (a copy: the caller may
// change them).
func (sh *dirShard) tombedHashes() []uint64 {
	out := make([]uint64, 0, len(sh.tombed))
	for h := range sh.tombed {
		out = append(out, h)
	}
	return out
}

// Forget drops owner's record of hash if it is a live copy (a fetch from
// it missed: the record was stale). Other holders stay.
func (d *Directory) Forget(owner string, hash uint64) {
	d.nodesMu.RLock()
	slot, ok := d.byName[owner]
	d.nodesMu.RUnlock()
	if !ok {
		return
	}
	sh := d.shard(hash)
	sh.mu.Lock()
	var buf [4]holder
	if s, had := sh.get(hash, buf[:0]); had {
		if i := s.find(slot); i >= 0 && s[i].kind != 0 {
			sh.set(hash, s, slices.Delete(slices.Clone(s), i, i+1))
		}
	}
	sh.mu.Unlock()
}

// Lookup returns hash's newest live holder.
func (d *Directory) Lookup(hash uint64) (Owner, bool) {
	var buf [4]Owner
	hs := d.Holders(hash, buf[:0])
	if len(hs) == 0 {
		return Owner{}, false
	}
	return hs[0], true
}

// Holders appends hash's live holders to dst, newest version first.
func (d *Directory) Holders(hash uint64, dst []Owner) []Owner {
	sh := d.shard(hash)
	var buf [4]holder
	sh.mu.RLock()
	s, _ := sh.get(hash, buf[:0])
	sh.mu.RUnlock()
	start := len(dst)
	d.nodesMu.RLock()
	for _, h := range s {
		if h.kind == 0 {
			continue
		}
		ns := d.slots[h.slot]
		if !ns.alive {
			continue // retired: its holders are being dropped
		}
		dst = append(dst, Owner{Node: ns.name, Epoch: ns.epoch, Kind: tiers.Kind(h.kind), Ver: h.ver})
	}
	d.nodesMu.RUnlock()
	out := dst[start:]
	slices.SortFunc(out, func(a, b Owner) int {
		switch {
		case a.Ver > b.Ver:
			return -1
		case a.Ver < b.Ver:
			return 1
		}
		return 0
	})
	return dst
}

// Holds reports whether node is a live holder of hash.
func (d *Directory) Holds(node string, hash uint64) bool {
	d.nodesMu.RLock()
	slot, ok := d.byName[node]
	d.nodesMu.RUnlock()
	if !ok {
		return false
	}
	sh := d.shard(hash)
	var buf [4]holder
	sh.mu.RLock()
	s, _ := sh.get(hash, buf[:0])
	sh.mu.RUnlock()
	i := s.find(slot)
	return i >= 0 && s[i].kind != 0
}

// Len is the number of entries with at least one live holder.
func (d *Directory) Len() int {
	n := 0
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.RLock()
		n += sh.live
		sh.mu.RUnlock()
	}
	return n
}

// CountOwnedBy is the number of entries listing node as a live holder.
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
		var buf [4]holder
		for _, e := range sh.m {
			s := e.list(buf[:0])
			if j := s.find(slot); j >= 0 && s[j].kind != 0 {
				n++
			}
		}
		sh.mu.RUnlock()
	}
	return n
}

// Evictions counts entries dropped to stay under the cap.
func (d *Directory) Evictions() uint64 { return d.evictions.Load() }

// Record is one holder's record as it travels between nodes.
type Record struct {
	Hash uint64
	Kind tiers.Kind
	Ver  uint64
	Del  bool
}

// adopt makes owner known at epoch if the directory has never heard of it
// (a holder speaking for itself before memberlist told of it).
func (d *Directory) adopt(owner string, epoch uint64) {
	d.nodesMu.RLock()
	_, ok := d.byName[owner]
	d.nodesMu.RUnlock()
	if !ok {
		d.markNode(owner, epoch, true)
	}
}

// dropIf removes every entry whose hash drop accepts (drop runs under a
// shard lock and must not call back into d).
func (d *Directory) dropIf(drop func(hash uint64) bool) int {
	k := 0
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		var buf [4]holder
		for h, e := range sh.m {
			if drop(h) {
				sh.set(h, e.list(buf[:0]), nil)
				k++
			}
		}
		sh.mu.Unlock()
	}
	return k
}

// digest computes owner's per-bucket digest of live records (what the
// holder's own digest of its holdings on this replica must equal), and
// drops owner's tombstones not newer than asOf in the buckets where they
// agree: the holder's account as of asOf no longer needs them.
func (d *Directory) digest(owner string, epoch uint64, theirs *[digestBuckets]uint64, asOf uint64) (diff []int) {
	var mine [digestBuckets]uint64
	slot, ok := d.slotFor(owner, epoch)
	tombs := 0
	if ok {
		for i := range d.shards {
			sh := &d.shards[i]
			sh.mu.RLock()
			if dg := sh.dig[slot]; dg != nil {
				for b := range mine {
					mine[b] ^= dg[b]
				}
			}
			tombs += sh.slotTombs[slot]
			sh.mu.RUnlock()
		}
	}
	for b := range mine {
		if mine[b] != theirs[b] {
			diff = append(diff, b)
		}
	}
	if !ok || tombs == 0 {
		return diff
	}
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		if sh.slotTombs[slot] > 0 {
			var buf [4]holder
			for _, h := range sh.tombedHashes() {
				s, _ := sh.get(h, buf[:0])
				j := s.find(slot)
				if j < 0 || s[j].kind != 0 || s[j].ver > asOf || mine[bucketOf(h)] != theirs[bucketOf(h)] {
					continue
				}
				sh.set(h, s, slices.Delete(slices.Clone(s), j, j+1))
			}
		}
		sh.mu.Unlock()
	}
	return diff
}

// replaceOwned applies an authoritative snapshot of owner's holdings taken
// at snapVer (of digest bucket bucket only, or all of them for -1): owner's
// records not newer than snapVer and absent from the snapshot are dropped,
// tombstones included (the holder's own account supersedes them), and the
// snapshot's records are put. Other holders are untouched. It reports
// whether the directory changed.
func (d *Directory) replaceOwned(owner string, epoch, snapVer uint64, bucket int, recs []Record) bool {
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
		if bucket >= 0 && i != bucketShard(bucket) {
			continue // a bucket lies in one shard
		}
		sh := &d.shards[i]
		sh.mu.Lock()
		var buf [4]holder
		for h, e := range sh.m {
			if bucket >= 0 && bucketOf(h) != bucket {
				continue
			}
			s := e.list(buf[:0])
			j := s.find(slot)
			if j < 0 || s[j].ver > snapVer {
				continue
			}
			if _, keep := in[h]; !keep {
				sh.set(h, s, slices.Delete(slices.Clone(s), j, j+1))
				changed = changed || s[j].kind != 0
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

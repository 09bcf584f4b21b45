package cluster

import (
	"sync"

	"github.com/stratacache/stratacache/tiers"
)

// ownHoldings is what this node holds itself, as its own tiers report it:
// the one table the node's directory records come from (new records,
// handoff, digests, OP_PEER_DIR_SYNC) and the one its change feed and
// summary are read from (feed.go: OP_PEER_SUBSCRIBE, OP_PEER_SUMMARY).
//
// Each record keeps its directory replica set, ranked on a ring of known
// generation, so that a digest or handoff pass costs a lookup per record
// rather than a ranking of every member (ring.go); a ring change moves the
// cached sets incrementally (refreshReplicas in dirloop.go).
type ownHoldings struct {
	shards [dirShards]holdShard

	// The change feed: every change of the table gets the next sequence
	// number (from 1 in each epoch), and the last logLen changes are kept.
	// A change is logged under its shard's lock, so the log orders the
	// changes of one hash as the table does.
	epoch  uint64
	logLen int
	logMu  sync.Mutex
	seq    uint64
	log    []feedChange  // ring of the last logLen changes
	head   int           // next write position in log
	wake   chan struct{} // closed at the next change (nil: nobody waits)

	sumMu  sync.Mutex
	sumSeq uint64
	sum    []byte // encoded summary as of sumSeq
}

type holdShard struct {
	mu sync.RWMutex
	m  map[uint64]ownRec
}

// ownRec is one artifact this node holds: 32 bytes.
type ownRec struct {
	ver  uint64 // this node's clock when the record last changed
	gen  uint32 // low bits of the ring generation reps were ranked on; 0: none
	kind uint8  // tiers.Kind of the fastest local tier that took it
	nrep uint8
	reps [maxReplicas]uint16 // directory replicas: indices into that ring
}

func (r *ownRec) record(hash uint64) Record {
	return Record{Hash: hash, Kind: tiers.Kind(r.kind), Ver: r.ver}
}

func (r *ownRec) replicaIdx() []uint16 { return r.reps[:r.nrep] }

func (r *ownRec) setReplicas(gen uint64, idx []uint16) {
	r.gen = uint32(gen)
	r.nrep = uint8(copy(r.reps[:], idx))
}

// rankedOn reports whether r's replica set was ranked on ring g.
func (r *ownRec) rankedOn(g *ring) bool { return r.gen != 0 && r.gen == uint32(g.gen) }

func newOwnHoldings(epoch uint64, logLen int) *ownHoldings {
	h := &ownHoldings{epoch: epoch, logLen: logLen}
	for i := range h.shards {
		h.shards[i].m = map[uint64]ownRec{}
	}
	return h
}

// shard is hash's shard: the same top bits as the directory's, so that a
// digest bucket (the top 6 bits) lies in one shard (bucketShard).
func (h *ownHoldings) shard(hash uint64) *holdShard { return &h.shards[hash>>(64-5)] }

// bucketShard is the shard index that holds digest bucket b.
func bucketShard(b int) int { return b >> 1 }

// stored records that a local tier of kind took hash. A new holding, or
// one now in a faster medium than before, gets a new version from tick and
// a change in the feed; its replica set is ranked on cur (or kept, when
// ranked on cur already). It returns the record to send and its replica
// set on cur, or ok false when nothing changed (a slower tier took a copy
// of what the node holds: a write-through or a demotion).
func (h *ownHoldings) stored(hash uint64, kind tiers.Kind, tick func() uint64, cur *ring, k int, reps []uint16) (Record, []uint16, bool) {
	if kind == 0 {
		kind = tiers.KindMemory // 0 marks a tombstone in the directory
	}
	sh := h.shard(hash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	old, held := sh.m[hash]
	if held && old.kind <= uint8(kind) {
		return Record{}, reps, false
	}
	rec := ownRec{ver: tick(), kind: uint8(kind)}
	if held && old.rankedOn(cur) {
		rec.gen, rec.nrep, rec.reps = old.gen, old.nrep, old.reps
	} else {
		var buf [maxReplicas]uint16
		rec.setReplicas(cur.gen, cur.top(buf[:0], hash, k))
	}
	sh.m[hash] = rec
	h.logChange(feedChange{hash: hash, kind: rec.kind})
	return rec.record(hash), append(reps, rec.replicaIdx()...), true
}

// dropped records that the node no longer holds hash (evicted from its
// last tier, or deleted). It returns the delete record, versioned by tick,
// and the replica set it was last sent to with the generation of the ring
// that set indexes (0: none), or ok false when hash was not held.
func (h *ownHoldings) dropped(hash uint64, tick func() uint64, reps []uint16) (Record, []uint16, uint32, bool) {
	sh := h.shard(hash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	old, held := sh.m[hash]
	if !held {
		return Record{}, reps, 0, false
	}
	delete(sh.m, hash)
	h.logChange(feedChange{hash: hash, del: true})
	return Record{Hash: hash, Ver: tick(), Del: true}, append(reps, old.replicaIdx()...), old.gen, true
}

func (h *ownHoldings) has(hash uint64) bool {
	sh := h.shard(hash)
	sh.mu.RLock()
	_, ok := sh.m[hash]
	sh.mu.RUnlock()
	return ok
}

func (h *ownHoldings) len() int {
	n := 0
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// each calls f with the records of one shard at a time (recs reused; f
// must copy what it keeps and must not call back into h).
func (h *ownHoldings) each(f func(recs []Record)) {
	var recs []Record
	for i := range h.shards {
		recs = h.appendShard(recs[:0], i)
		f(recs)
	}
}

// appendShard appends shard i's records to dst.
func (h *ownHoldings) appendShard(dst []Record, i int) []Record {
	sh := &h.shards[i]
	sh.mu.RLock()
	for hash, r := range sh.m {
		dst = append(dst, r.record(hash))
	}
	sh.mu.RUnlock()
	return dst
}

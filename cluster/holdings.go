package cluster

import (
	"sync"

	"github.com/stratacache/stratacache/tiers"
)

// ownHoldings is what this node holds itself: the source of truth its
// directory records come from. The directory replicas of an artifact are
// usually other nodes; this table is what the node reports to them (new
// records, handoff, digests) and what OP_PEER_DIR_SYNC answers with.
type ownHoldings struct {
	shards [dirShards]holdShard
}

type holdShard struct {
	mu sync.RWMutex
	m  map[uint64]ownRec
}

// ownRec is one artifact this node holds: the tier kind it first went to
// and the version (this node's clock) it was recorded at.
type ownRec struct {
	ver  uint64
	kind tiers.Kind
}

func newOwnHoldings() *ownHoldings {
	h := &ownHoldings{}
	for i := range h.shards {
		h.shards[i].m = map[uint64]ownRec{}
	}
	return h
}

func (h *ownHoldings) shard(hash uint64) *holdShard { return &h.shards[hash>>(64-5)] }

// add records hash as held at ver unless it is already; it reports whether
// it was new.
func (h *ownHoldings) add(hash uint64, kind tiers.Kind, ver func() uint64) (uint64, bool) {
	sh := h.shard(hash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[hash]; ok {
		return 0, false
	}
	v := ver()
	sh.m[hash] = ownRec{ver: v, kind: kind}
	return v, true
}

// remove forgets hash; it reports whether it was held, and the version of
// the removal.
func (h *ownHoldings) remove(hash uint64, ver func() uint64) (uint64, bool) {
	sh := h.shard(hash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[hash]; !ok {
		return 0, false
	}
	delete(sh.m, hash)
	return ver(), true
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
		sh := &h.shards[i]
		recs = recs[:0]
		sh.mu.RLock()
		for hash, r := range sh.m {
			recs = append(recs, Record{Hash: hash, Kind: r.kind, Ver: r.ver})
		}
		sh.mu.RUnlock()
		f(recs)
	}
}

package cluster

import (
	"github.com/stratacache/stratacache/holdings"
)

// The change feed schedulers follow (OP_PEER_SUBSCRIBE, OP_PEER_SUMMARY):
// the node's report of itself, read from its own holdings table
// (holdings.go), whatever the directory's partitioning. Sequence numbers
// start at 1 with each epoch.

// feedChange is one logged change: hash now held in a medium of kind, or
// no longer held (del).
type feedChange struct {
	seq  uint64
	hash uint64
	kind uint8
	del  bool
}

func (c feedChange) change() holdings.Change {
	return holdings.Change{Hash: c.hash, Kind: c.kind, Del: c.del}
}

// logChange gives c the next sequence number and keeps it in the log.
// Called under c.hash's shard lock (the lock order is shard, then logMu).
func (h *ownHoldings) logChange(c feedChange) {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	if h.wake != nil {
		close(h.wake)
		h.wake = nil
	}
	h.seq++
	c.seq = h.seq
	if h.logLen <= 0 {
		return
	}
	if len(h.log) < h.logLen {
		h.log = append(h.log, c)
		return
	}
	h.log[h.head] = c
	h.head = (h.head + 1) % h.logLen
}

// feedSeq is the sequence number of the last change.
func (h *ownHoldings) feedSeq() uint64 {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	return h.seq
}

// since fills out with the changes after seq since of epoch, or with the
// whole holding set (Resync) when the subscriber is of another epoch, ahead
// of the feed, or further behind than the log keeps.
func (h *ownHoldings) since(epoch, since uint64, out *holdings.Feed) {
	h.sinceMax(epoch, since, 0, out)
}

// changed returns a channel closed at the next change and the sequence
// number now (streams wait on it).
func (h *ownHoldings) changed() (<-chan struct{}, uint64) {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	if h.wake == nil {
		h.wake = make(chan struct{})
	}
	return h.wake, h.seq
}

// sinceMax is since with at most limit changes (0: all); out.Seq is then
// where those changes end, and the rest follow in the next call.
//
// A resync reads the table shard by shard after taking the sequence number
// it reports, so it may already show changes logged after that number; the
// subscriber's next poll replays them, and a change is an assignment (held
// in kind, or not held), so replaying one that is already applied changes
// nothing.
func (h *ownHoldings) sinceMax(epoch, since uint64, limit int, out *holdings.Feed) {
	h.logMu.Lock()
	out.Epoch, out.Seq, out.Resync = h.epoch, h.seq, false
	out.Changes = out.Changes[:0]
	oldest := h.seq - uint64(len(h.log)) // changes after it are in the log
	if epoch == h.epoch && since <= h.seq && since >= oldest {
		behind := int(h.seq - since)
		n := behind
		if limit > 0 && n > limit {
			n = limit
			out.Seq = since + uint64(n)
		}
		if n > 0 {
			start := (h.head + len(h.log) - behind) % len(h.log)
			for i := 0; i < n; i++ {
				out.Changes = append(out.Changes, h.log[(start+i)%len(h.log)].change())
			}
		}
		h.logMu.Unlock()
		return
	}
	h.logMu.Unlock()
	out.Resync = true
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		for hash, r := range sh.m {
			out.Changes = append(out.Changes, holdings.Change{Hash: hash, Kind: r.kind})
		}
		sh.mu.RUnlock()
	}
}

// summary returns the encoded filter over the held hashes, rebuilt when
// the holdings changed since the last one.
func (h *ownHoldings) summary() ([]byte, error) {
	h.sumMu.Lock()
	defer h.sumMu.Unlock()
	seq := h.feedSeq()
	if h.sum != nil && seq == h.sumSeq {
		return h.sum, nil
	}
	keys := make([]uint64, 0, h.len())
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		for hash := range sh.m {
			keys = append(keys, hash)
		}
		sh.mu.RUnlock()
	}
	flt, err := holdings.NewFilter(len(keys), holdings.DefaultBitsPerEntry, holdings.DefaultK)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		flt.Add(k)
	}
	h.sum = flt.AppendTo(make([]byte, 0, flt.Bits()/8+32))
	h.sumSeq = seq
	return h.sum, nil
}

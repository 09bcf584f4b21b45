package cluster

import (
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"
)

// maxDeltaBytes bounds one broadcast delta so that it fits a gossip packet
// (memberlist's UDP budget is 1,400 bytes including its own headers).
const maxDeltaBytes = 1000

// maxStateBytes bounds the push/pull state (memberlist refuses over 20 MiB).
const maxStateBytes = 8 << 20

// gossip is the node's memberlist.Delegate and EventDelegate. Every method
// runs on a memberlist goroutine, the event methods under memberlist's node
// lock: they copy what they keep, take only the node's own short locks, and
// never call back into memberlist (Members() there deadlocks).
type gossip struct{ n *Node }

var (
	_ memberlist.Delegate      = (*gossip)(nil)
	_ memberlist.EventDelegate = (*gossip)(nil)
)

func (g *gossip) numNodes() int {
	if ml := g.n.ml; ml != nil {
		return ml.NumMembers()
	}
	return 1
}

// NodeMeta implements memberlist.Delegate.
func (g *gossip) NodeMeta(limit int) []byte {
	m := g.n.selfMeta()
	b := appendMeta(nil, &m)
	for len(b) > limit && len(m.Tiers) > 0 {
		m.Tiers = m.Tiers[:len(m.Tiers)-1]
		if m.Pool >= len(m.Tiers) {
			m.Pool = -1
		}
		b = appendMeta(b[:0], &m)
	}
	return b
}

// NotifyMsg implements memberlist.Delegate: a directory delta from a peer.
// What changes the directory is re-queued, because memberlist does not
// forward user broadcasts.
func (g *gossip) NotifyMsg(b []byte) {
	n := g.n
	n.deltas.received.Add(1)
	var dl Delta
	if err := decodeDelta(b, &dl); err != nil {
		n.deltas.bad.Add(1)
		n.log.Debug("bad directory delta", slog.Any("err", err))
		return
	}
	if n.dir.apply(&dl) && !n.noBroadcast.Load() {
		n.deltas.relayed.Add(1)
		n.queue.QueueBroadcast(deltaBroadcast(append([]byte(nil), b...)))
		n.pruneQueue()
	}
}

// GetBroadcasts implements memberlist.Delegate: this node's pending changes
// become deltas, then the queue hands out what fits.
func (g *gossip) GetBroadcasts(overhead, limit int) [][]byte {
	n := g.n
	n.flushPending()
	return n.queue.GetBroadcasts(overhead, limit)
}

// LocalState implements memberlist.Delegate: an authoritative snapshot of
// this node's own entries, then (within maxStateBytes) every other live
// owner's entries as plain puts, so that one push/pull with anyone repairs
// a missed broadcast. A relayed entry can be stale (its delete's tombstone
// expired): the read that misses on it drops it, and its owner's next
// snapshot removes it.
func (g *gossip) LocalState(join bool) []byte {
	n := g.n
	deltas := [][]byte{n.ownSnapshot(nil, maxStateBytes/2)}
	budget := maxStateBytes - len(deltas[0])
	n.dir.ownerRecords(func(name string) bool { return name != n.cfg.NodeName }, func(name string, epoch uint64, recs []Record) {
		for len(recs) > 0 && budget > 0 {
			k := min(len(recs), 4096, budget/maxRecordBytes)
			if k == 0 {
				return
			}
			dl := Delta{Owner: name, Epoch: epoch, Records: recs[:k]}
			b := appendDelta(nil, &dl)
			budget -= len(b)
			deltas = append(deltas, b)
			recs = recs[k:]
		}
	})
	return appendState(nil, deltas)
}

// MergeRemoteState implements memberlist.Delegate.
func (g *gossip) MergeRemoteState(buf []byte, join bool) {
	n := g.n
	err := eachStateDelta(buf, func(dl *Delta) { n.dir.apply(dl) })
	if err != nil {
		n.deltas.bad.Add(1)
		n.log.Debug("bad push/pull state", slog.Any("err", err))
	}
}

// NotifyJoin implements memberlist.EventDelegate.
func (g *gossip) NotifyJoin(node *memberlist.Node) { g.update(node, true) }

// NotifyUpdate implements memberlist.EventDelegate.
func (g *gossip) NotifyUpdate(node *memberlist.Node) { g.update(node, true) }

// NotifyLeave implements memberlist.EventDelegate: the node left or was
// declared dead; its entries go (in the worker, not under memberlist's
// lock).
func (g *gossip) NotifyLeave(node *memberlist.Node) { g.update(node, false) }

func (g *gossip) update(node *memberlist.Node, alive bool) {
	n := g.n
	if node.Name == n.cfg.NodeName {
		return
	}
	meta, err := decodeMeta(node.Meta)
	if err != nil {
		n.log.Warn("member with bad metadata", slog.String("member", node.Name), slog.Any("err", err))
		return
	}
	m := Member{Name: node.Name, GossipAddr: node.Address(), Meta: meta}
	n.memMu.Lock()
	old, had := n.members[node.Name]
	if alive {
		n.members[node.Name] = m
		delete(n.failed, node.Name)
	} else {
		delete(n.members, node.Name)
		// memberlist's Node.State is not updated before NotifyLeave, so a
		// graceful leave looks like a death here: both are retried, and a
		// node that left (and shut down) just refuses the dials.
		n.failed[node.Name] = failedMember{addr: node.Address(), since: time.Now()}
	}
	n.memMu.Unlock()
	n.retire(n.dir.markNode(node.Name, meta.Epoch, alive))
	if alive && (!had || old.Meta.Epoch != meta.Epoch) {
		// New, revived (after being declared dead) or restarted: its
		// entries may have been refused meanwhile; ask it for them.
		n.syncFrom(node.Name, meta.PeerAddr)
	}
	if had && (!alive || old.Meta.PeerAddr != meta.PeerAddr) {
		go n.peers.forget(old.Meta.PeerAddr)
	}
}

// flushPending turns queued own changes into broadcast deltas.
func (n *Node) flushPending() {
	n.pendMu.Lock()
	p := n.pending
	n.pending = nil
	n.pendMu.Unlock()
	if len(p) == 0 || n.noBroadcast.Load() {
		return
	}
	per := maxDeltaBytes / maxRecordBytes
	for len(p) > 0 {
		k := min(len(p), per)
		dl := Delta{Owner: n.cfg.NodeName, Epoch: n.cfg.Epoch, Records: p[:k]}
		n.queue.QueueBroadcast(deltaBroadcast(appendDelta(nil, &dl)))
		n.deltas.sent.Add(1)
		p = p[k:]
	}
	n.pruneQueue()
}

func (n *Node) pruneQueue() {
	if n.queue.NumQueued() > n.cfg.BroadcastQueueMax {
		n.queue.Prune(n.cfg.BroadcastQueueMax)
	}
}

// broadcast queues a delta about another owner (a demote's new owner).
func (n *Node) broadcast(dl *Delta) {
	if n.queue == nil || n.noBroadcast.Load() {
		return
	}
	n.queue.QueueBroadcast(deltaBroadcast(appendDelta(nil, dl)))
	n.deltas.sent.Add(1)
}

// deltaBroadcast is one encoded delta in the TransmitLimitedQueue. Deltas
// never invalidate each other: versions decide on receipt.
type deltaBroadcast []byte

func (b deltaBroadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b deltaBroadcast) Message() []byte                       { return b }
func (b deltaBroadcast) Finished()                             {}

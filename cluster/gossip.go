package cluster

import (
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"
)

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

// NotifyMsg implements memberlist.Delegate. Ownership no longer travels
// by gossip (the directory is partitioned: cluster/dirpeer.go); a user
// message is ignored.
func (g *gossip) NotifyMsg([]byte) {}

// GetBroadcasts implements memberlist.Delegate: nothing (see NotifyMsg).
func (g *gossip) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState implements memberlist.Delegate: no state beyond membership.
func (g *gossip) LocalState(join bool) []byte { return nil }

// MergeRemoteState implements memberlist.Delegate.
func (g *gossip) MergeRemoteState(buf []byte, join bool) {}

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
	n.updateRing()
	if had && (!alive || old.Meta.PeerAddr != meta.PeerAddr) {
		go n.peers.forget(old.Meta.PeerAddr)
	}
}

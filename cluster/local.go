package cluster

// What peers are answered from and what the directory is told about: this
// node's own local tiers (never the remote one).

import (
	"context"
	"errors"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// heldLocally reports whether a local tier holds id.
func (n *Node) heldLocally(id artifact.ID) bool {
	for _, t := range n.local {
		if t.Tier.Contains(id) {
			return true
		}
	}
	return false
}

// heldLocallyExcept reports whether a local tier other than skip holds id.
func (n *Node) heldLocallyExcept(id artifact.ID, skip *observedTier) bool {
	for _, t := range n.local {
		if t != skip && t.Tier.Contains(id) {
			return true
		}
	}
	return false
}

// localView finds id in the local tiers (not the remote one).
func (n *Node) localView(id artifact.ID) (tiers.View, string, error) {
	for _, t := range n.local {
		v, err := t.Tier.View(id)
		if err == nil {
			return v, t.Name(), nil
		}
		if errors.Is(err, tiers.ErrCollision) || errors.Is(err, tiers.ErrClosed) {
			return nil, "", err
		}
	}
	return nil, "", tiers.ErrNotFound
}

func (n *Node) localStat(id artifact.ID) (artifact.Meta, string, error) {
	for _, t := range n.local {
		m, err := t.Tier.Stat(id)
		if err == nil {
			return m, t.Name(), nil
		}
		if errors.Is(err, tiers.ErrCollision) || errors.Is(err, tiers.ErrClosed) {
			return m, "", err
		}
	}
	return artifact.Meta{}, "", tiers.ErrNotFound
}

func (n *Node) poolTier() tiers.Tier {
	if n.pool < 0 || n.pool >= len(n.local) {
		return nil
	}
	return n.local[n.pool]
}

func (n *Node) poolFree() int64 {
	t := n.poolTier()
	if t == nil {
		return 0
	}
	var s tiers.Stats
	t.Stats(&s)
	return s.CapacityBytes - s.UsedBytes - s.PendingBytes
}

// deleteForPeer deletes id locally; the remote tier does not forward it
// back.
func (n *Node) deleteForPeer(ctx context.Context, id artifact.ID) (bool, error) {
	n.peerDeletes.Store(id.Hash, struct{}{})
	defer n.peerDeletes.Delete(id.Hash)
	return n.store.Delete(ctx, id)
}

// promoter is implemented by a LocalStore that can copy an artifact into
// its top tier itself (actors.Engine): a versioned copy that a newer store
// or a delete meanwhile overtakes, unlike a Store of what a View returned.
type promoter interface {
	Promote(ctx context.Context, id artifact.ID) (bool, error)
}

// warm copies id from a lower local tier into the top one (prefetch).
func (n *Node) warm(ctx context.Context, id artifact.ID) bool {
	if n.local[0].Tier.Contains(id) {
		return true
	}
	if p, ok := n.store.(promoter); ok {
		ok, err := p.Promote(ctx, id)
		return ok && err == nil
	}
	v, _, err := n.localView(id)
	if err != nil {
		return false
	}
	defer v.Release()
	err = n.store.Store(ctx, id.Clone(), v.Bytes(), actors.StoreOptions{Access: actors.Exact(n.local[0].Name()), Meta: v.Meta()})
	return err == nil
}

// ownSnapshot appends an authoritative snapshot delta of what this node
// holds (or, when it would exceed maxBytes, a plain delta of the first
// records that fit): the OP_PEER_DIR_SYNC answer.
func (n *Node) ownSnapshot(dst []byte, maxBytes int) []byte {
	asOf := n.tick()
	var recs []Record
	n.holdings.each(func(rs []Record) { recs = append(recs, rs...) })
	dl := Delta{Owner: n.cfg.NodeName, Epoch: n.cfg.Epoch, Snapshot: true, AsOf: asOf, Records: recs}
	if len(recs)*maxRecordBytes > maxBytes {
		dl.Snapshot = false
		dl.Records = recs[:maxBytes/maxRecordBytes]
	}
	return appendDelta(dst, &dl)
}

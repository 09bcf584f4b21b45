package cluster

import "github.com/stratacache/stratacache/placement"

// Placement by rendezvous hashing is placement.Home (and placement.Replicas
// for the directory replicas), shared with clientsdk so that clients and
// nodes agree on every artifact's home. This file holds what only the
// nodes decide.

// demoteTarget picks the peer with the most free pool bytes that can take
// size bytes (ties broken by rendezvous score so that equal peers share the
// load deterministically). ok is false when no peer has room.
func demoteTarget(hash uint64, size int64, peers []Member) (Member, bool) {
	var best Member
	var bestScore uint64
	found := false
	for _, p := range peers {
		free := p.Meta.PoolFree()
		if free < size || p.Meta.PeerAddr == "" {
			continue
		}
		s := placement.Score(hash, placement.NodeKey(p.Name))
		bf := best.Meta.PoolFree()
		if !found || free > bf || (free == bf && s > bestScore) {
			best, bestScore, found = p, s, true
		}
	}
	return best, found
}

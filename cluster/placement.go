package cluster

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// Placement by rendezvous (highest random weight) hashing: every node scores
// an artifact with xxhash64(id hash || xxhash64(node name)) and the highest
// score is the artifact's home. Every node computes the same home from the
// same member list, and a member leaving moves only the artifacts it was
// home to.

// nodeKey is the per-node half of the rendezvous score.
func nodeKey(name string) uint64 { return xxhash.Sum64String(name) }

// score is the rendezvous weight of node (by its nodeKey) for artifact hash.
func score(hash, node uint64) uint64 {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], hash)
	binary.LittleEndian.PutUint64(b[8:], node)
	return xxhash.Sum64(b[:])
}

// Home returns the home node of an artifact among names (ties, which need
// a 64-bit collision, go to the smaller name). Empty names: "".
func Home(hash uint64, names []string) string {
	best, bestScore := "", uint64(0)
	for _, n := range names {
		s := score(hash, nodeKey(n))
		if best == "" || s > bestScore || (s == bestScore && n < best) {
			best, bestScore = n, s
		}
	}
	return best
}

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
		s := score(hash, nodeKey(p.Name))
		bf := best.Meta.PoolFree()
		if !found || free > bf || (free == bf && s > bestScore) {
			best, bestScore, found = p, s, true
		}
	}
	return best, found
}

package placement

import (
	"encoding/binary"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Rendezvous (highest random weight) hashing: every member scores an
// artifact with xxhash64(le64(id hash) ++ le64(xxhash64(member name))),
// and the artifact's home is the member with the highest score; its
// directory replicas are the first R members in descending score order.
// Everyone who knows the same member names computes the same home, and a
// member leaving moves only the artifacts it held a place for.
// docs/hashing.md ("Placement") spells this out for other languages.

// NodeKey is a member's half of the rendezvous score: xxhash64 (seed 0) of
// its name. Callers scoring many artifacts against the same members may
// compute it once per member.
func NodeKey(name string) uint64 { return xxhash.Sum64String(name) }

// Score is the rendezvous weight of the member with NodeKey node for the
// artifact whose id hash is hash.
func Score(hash, node uint64) uint64 {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], hash)
	binary.LittleEndian.PutUint64(b[8:], node)
	return xxhash.Sum64(b[:])
}

// better reports whether (name, score) ranks before (than, thanScore):
// higher score first; a tie, which needs a 64-bit collision, goes to the
// smaller name so that the order never depends on the order of names.
func better(score uint64, name string, thanScore uint64, than string) bool {
	return score > thanScore || (score == thanScore && name < than)
}

// Home returns the home of the artifact with id hash hash among names: the
// member with the highest Score. It returns "" for no names.
func Home(hash uint64, names []string) string {
	best, bestScore := "", uint64(0)
	for _, n := range names {
		s := Score(hash, NodeKey(n))
		if best == "" || better(s, n, bestScore, best) {
			best, bestScore = n, s
		}
	}
	return best
}

// Replicas appends to dst the first r members of hash's rendezvous order
// among names (all of them when r >= len(names)), best first, and returns
// it: the artifact's home, then the members that take its place as the
// ones before them leave. Duplicate names count once.
func Replicas(dst []string, hash uint64, names []string, r int) []string {
	if r <= 0 || len(names) == 0 {
		return dst
	}
	type ranked struct {
		score uint64
		name  string
	}
	top := make([]ranked, 0, min(r, len(names))+1)
	for _, n := range names {
		s := Score(hash, NodeKey(n))
		i := len(top)
		for i > 0 && better(s, n, top[i-1].score, top[i-1].name) {
			i--
		}
		if i > 0 && top[i-1].name == n {
			continue // a duplicate
		}
		if i >= r {
			continue
		}
		top = slices.Insert(top, i, ranked{s, n})
		if len(top) > r {
			top = top[:r]
		}
	}
	for _, t := range top {
		dst = append(dst, t.name)
	}
	return dst
}

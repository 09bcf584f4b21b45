package cluster

// The ring: which live members are an artifact's directory replicas, and
// how a replica set computed on one ring is carried to the next without
// ranking every member again.

import (
	"slices"
	"sort"
	"sync"

	"github.com/stratacache/stratacache/placement"
)

// maxReplicas is Config.Validate's bound on DirectoryReplicas: a cached
// replica set is a fixed array of this many ring indices.
const maxReplicas = 8

// maxRingMembers bounds a ring: its indices are uint16.
const maxRingMembers = 1 << 16

// ring is the live members (this node included) with their rendezvous
// keys: an immutable value swapped on every membership change. gen counts
// the changes (1 for the first ring) and names the ring in ringLog.
type ring struct {
	names []string
	keys  []uint64
	gen   uint64
}

func newRing(names []string, gen uint64) *ring {
	names = slices.Clone(names)
	sort.Strings(names)
	names = slices.Compact(names)
	if len(names) > maxRingMembers {
		names = names[:maxRingMembers]
	}
	r := &ring{names: names, keys: make([]uint64, len(names)), gen: gen}
	for i, n := range names {
		r.keys[i] = placement.NodeKey(n)
	}
	return r
}

// ranked is one member of a replica set being ranked.
type ranked struct {
	score uint64
	i     uint16
}

// insert puts (s, i) into top (at most k, best first) if it ranks there:
// higher score first, a tie to the smaller name (placement's order).
func (r *ring) insert(top []ranked, k int, s uint64, i uint16) []ranked {
	j := len(top)
	for j > 0 && (s > top[j-1].score || (s == top[j-1].score && r.names[i] < r.names[top[j-1].i])) {
		j--
	}
	if j >= k {
		return top
	}
	if len(top) < k {
		top = append(top, ranked{})
	}
	copy(top[j+1:], top[j:len(top)-1])
	top[j] = ranked{s, i}
	return top
}

// top appends the ring indices of hash's first k members in rendezvous
// order: len(names) scores.
func (r *ring) top(dst []uint16, hash uint64, k int) []uint16 {
	k = min(k, maxReplicas)
	if k <= 0 {
		return dst
	}
	var buf [maxReplicas]ranked
	t := buf[:0]
	for i, key := range r.keys {
		t = r.insert(t, k, placement.Score(hash, key), uint16(i))
	}
	for _, x := range t {
		dst = append(dst, x.i)
	}
	return dst
}

// replicas appends hash's first k members in rendezvous order: the same
// order as placement.Replicas (TestRingMatchesPlacement), with the member
// keys computed once per ring instead of once per call.
func (r *ring) replicas(dst []string, hash uint64, k int) []string {
	var buf [maxReplicas]uint16
	for _, i := range r.top(buf[:0], hash, k) {
		dst = append(dst, r.names[i])
	}
	return dst
}

func (r *ring) index(name string) (int, bool) {
	return slices.BinarySearch(r.names, name)
}

func (r *ring) has(name string) bool {
	_, ok := r.index(name)
	return ok
}

// ringMove carries replica sets from one ring to a later one. Built once
// per pass; safe for concurrent use once built.
type ringMove struct {
	from, to *ring
	trans    []int32  // from's index -> to's index, -1 when the member left
	added    []uint16 // to's members that from lacks
}

func newRingMove(from, to *ring) *ringMove {
	mv := &ringMove{from: from, to: to, trans: make([]int32, len(from.names))}
	for i, name := range from.names {
		j, ok := to.index(name)
		if !ok {
			j = -1
		}
		mv.trans[i] = int32(j)
	}
	for j, name := range to.names {
		if !from.has(name) {
			mv.added = append(mv.added, uint16(j))
		}
	}
	return mv
}

// next appends hash's first k members on mv.to, given old: its first k
// members on mv.from. When every member of old is still there the answer
// is among old and the members that joined (anyone else ranked below the
// k-th of old already), so it costs len(old)+len(added) scores; when a
// member of old left it ranks the whole ring.
func (mv *ringMove) next(dst []uint16, hash uint64, k int, old []uint16) []uint16 {
	k = min(k, maxReplicas)
	if k <= 0 {
		return dst
	}
	to := mv.to
	var buf [maxReplicas]ranked
	t := buf[:0]
	for _, i := range old {
		if int(i) >= len(mv.trans) || mv.trans[i] < 0 {
			return to.top(dst, hash, k)
		}
		j := uint16(mv.trans[i])
		t = to.insert(t, k, placement.Score(hash, to.keys[j]), j)
	}
	for _, j := range mv.added {
		t = to.insert(t, k, placement.Score(hash, to.keys[j]), j)
	}
	for _, x := range t {
		dst = append(dst, x.i)
	}
	return dst
}

// ringLogLen is how many recent rings ringLog keeps: a replica set cached
// under an older ring than that is ranked again from scratch.
const ringLogLen = 64

// ringLog keeps the recent rings by generation (replica sets are cached
// with the generation they were ranked on).
type ringLog struct {
	mu    sync.Mutex
	rings []*ring // ascending gen
}

func (l *ringLog) add(r *ring) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.rings) >= ringLogLen {
		l.rings = slices.Delete(l.rings, 0, len(l.rings)-ringLogLen+1)
	}
	l.rings = append(l.rings, r)
}

// get returns the ring whose generation's low 32 bits are gen (what a
// cached replica set keeps), or nil when it is no longer kept.
func (l *ringLog) get(gen uint32) *ring {
	if gen == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.rings) - 1; i >= 0; i-- {
		if uint32(l.rings[i].gen) == gen {
			return l.rings[i]
		}
	}
	return nil
}

package cluster

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/stratacache/stratacache/tiers"
)

func ringNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return out
}

// A replica set carried from ring to ring by ringMove is the set ranked
// from scratch on the new ring, through joins, leaves and both at once,
// for every R.
func TestRingMoveMatchesRanking(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	names := ringNames("n", 40)
	prev := newRing(names, 1)
	for step := 0; step < 60; step++ {
		next := slices.Clone(prev.names)
		switch step % 3 {
		case 0: // joins
			for j := 0; j < 1+rng.Intn(3); j++ {
				next = append(next, fmt.Sprintf("j-%d-%d", step, j))
			}
		case 1: // leaves
			for j := 0; j < 1+rng.Intn(3) && len(next) > 2; j++ {
				k := rng.Intn(len(next))
				next = slices.Delete(next, k, k+1)
			}
		default: // both
			k := rng.Intn(len(next))
			next = slices.Delete(next, k, k+1)
			next = append(next, fmt.Sprintf("b-%d", step))
		}
		cur := newRing(next, prev.gen+1)
		mv := newRingMove(prev, cur)
		for i := 0; i < 500; i++ {
			h := rng.Uint64()
			for _, k := range []int{1, 3, 8} {
				old := prev.top(nil, h, k)
				got := mv.next(nil, h, k, old)
				if want := cur.top(nil, h, k); !slices.Equal(got, want) {
					t.Fatalf("step %d hash %x k %d: moved %v, ranked %v", step, h, k, got, want)
				}
			}
		}
		prev = cur
	}
}

// The ring log finds recent rings by their generation's low 32 bits and
// forgets the oldest past ringLogLen.
func TestRingLog(t *testing.T) {
	var l ringLog
	for g := uint64(1); g <= ringLogLen+10; g++ {
		l.add(newRing([]string{"a"}, g))
	}
	if l.get(5) != nil || l.get(0) != nil {
		t.Fatal("an old or zero generation is still found")
	}
	if r := l.get(ringLogLen + 10); r == nil || r.gen != ringLogLen+10 {
		t.Fatalf("newest: %v", r)
	}
	if r := l.get(11); r == nil || r.gen != 11 {
		t.Fatalf("oldest kept: %v", r)
	}
}

// After ring changes, every record's cached replica set is the one ranked
// on the current ring, and each replica that gained a record was sent it
// (handoff), through refreshReplicas on a node that is not started.
func TestRefreshReplicasCachesTheRankedSet(t *testing.T) {
	cfg := DefaultLocalConfig("n-0000")
	cfg.DirectoryReplicas = 3
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	names := ringNames("n", 10)
	n.rings.add(newRing(names, 2))
	n.ring.Store(n.rings.get(2))
	for i := 0; i < 2000; i++ {
		n.Observe(Event{Kind: EventStored, ID: kvID(fmt.Sprint("r", i)), Tier: tiers.KindCXL})
	}
	queuedFor := func() map[string]int {
		n.snd.mu.Lock()
		defer n.snd.mu.Unlock()
		out := map[string]int{}
		for d, q := range n.snd.q {
			out[d] = len(q)
		}
		return out
	}
	before := queuedFor()
	// Two joins and a leave (not this node), then one more join.
	gen := uint64(3)
	for _, change := range [][]string{
		append(slices.Clone(names[2:]), "n-9998", "n-9999", names[0]),
		append(slices.Clone(names[2:]), "n-9998", "n-9999", "n-9997", names[0]),
	} {
		cur := newRing(change, gen)
		gen++
		n.rings.add(cur)
		n.ring.Store(cur)
		if !n.refreshReplicas(cur) {
			t.Fatal("refresh stopped early")
		}
		for i := range n.holdings.shards {
			for h, rec := range n.holdings.shards[i].m {
				if !rec.rankedOn(cur) || !slices.Equal(rec.replicaIdx(), cur.top(nil, h, 3)) {
					t.Fatalf("record %x: cached %v (gen %d), ranked %v (gen %d)", h, rec.replicaIdx(), rec.gen, cur.top(nil, h, 3), cur.gen)
				}
			}
		}
	}
	after := queuedFor()
	for _, joined := range []string{"n-9997", "n-9998", "n-9999"} {
		if after[joined] == 0 {
			t.Fatalf("joined %s was handed nothing: %v", joined, after)
		}
	}
	if after[names[1]] != before[names[1]] {
		t.Fatalf("the leaver %s was sent more records: %d -> %d", names[1], before[names[1]], after[names[1]])
	}
}

// replicaPassNode is a node (not started) of a ring of members nodes,
// holding held records.
func replicaPassNode(b *testing.B, members, held int) (*Node, *ring) {
	b.Helper()
	cfg := DefaultLocalConfig("n-0000")
	n, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	cur := newRing(ringNames("n", members), 2)
	n.rings.add(cur)
	n.ring.Store(cur)
	rng := rand.New(rand.NewSource(1))
	var buf [maxReplicas]uint16
	for i := 0; i < held; i++ {
		h := rng.Uint64()
		rec := ownRec{ver: uint64(i + 1), kind: uint8(tiers.KindCXL)}
		rec.setReplicas(cur.gen, cur.top(buf[:0], h, cfg.DirectoryReplicas))
		n.holdings.shard(h).m[h] = rec
	}
	return n, cur
}

// rankedDigests is the digest pass as it was before replica sets were
// cached (each record ranked on the ring: members scores each): the
// baseline of BenchmarkReplicaPass.
func rankedDigests(n *Node, cur *ring) [][digestBuckets]uint64 {
	digests := make([][digestBuckets]uint64, len(cur.names))
	var buf [maxReplicas]uint16
	for i := range n.holdings.shards {
		sh := &n.holdings.shards[i]
		sh.mu.RLock()
		for hash, rec := range sh.m {
			d, b := recDigest(rec.record(hash)), bucketOf(hash)
			for _, j := range cur.top(buf[:0], hash, n.cfg.DirectoryReplicas) {
				digests[j][b] ^= d
			}
		}
		sh.mu.RUnlock()
	}
	return digests
}

// BenchmarkReplicaPass: what a holder's pass over 100,000 own records
// costs at 64, 256 and 1,000 members (ns/op is one pass):
//   - digest/ranked: every record ranked on the ring (before the cache);
//   - digest/cached: the cached replica sets read (antiEntropy now);
//   - join, leave: refreshReplicas after one member joined or left (each
//     record's set carried to the new ring, handoff queued).
//
// go test ./cluster -run xxx -bench ReplicaPass -benchtime 3x
func BenchmarkReplicaPass(b *testing.B) {
	const held = 100_000
	for _, members := range []int{64, 256, 1000} {
		b.Run(fmt.Sprintf("digest/ranked/%d", members), func(b *testing.B) {
			n, cur := replicaPassNode(b, members, held)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rankedDigests(n, cur)
			}
		})
		b.Run(fmt.Sprintf("digest/cached/%d", members), func(b *testing.B) {
			n, cur := replicaPassNode(b, members, held)
			if !slices.Equal(n.replicaDigests(cur), rankedDigests(n, cur)) {
				b.Fatal("cached digests differ from ranked ones")
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				n.replicaDigests(cur)
			}
		})
		for _, change := range []string{"join", "leave"} {
			b.Run(fmt.Sprintf("%s/%d", change, members), func(b *testing.B) {
				n, base := replicaPassNode(b, members, held)
				n.cfg.HandoffRate = 0 // unbounded: the pass's CPU, not its pacing
				other := slices.Clone(base.names)
				if change == "join" {
					other = append(other, "n-joined")
				} else {
					other = slices.Delete(other, 1, 2)
				}
				rings := [2]*ring{base, nil}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					// Alternate between the two rings, each pass a change.
					names := other
					if i%2 == 1 {
						names = base.names
					}
					cur := newRing(names, base.gen+uint64(i)+1)
					rings[1] = cur
					n.rings.add(cur)
					n.ring.Store(cur)
					if !n.refreshReplicas(cur) {
						b.Fatal("refresh stopped early")
					}
					b.StopTimer()
					n.snd.mu.Lock()
					clear(n.snd.q)
					n.snd.mu.Unlock()
					b.StartTimer()
				}
			})
		}
	}
}

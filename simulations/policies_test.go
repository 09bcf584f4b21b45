package simulations

import (
	"testing"

	"github.com/stratacache/stratacache/tiers/eviction"
)

// TestAllPoliciesRun replays a slice of the conversation trace through
// every policy and checks the invariants the simulator relies on: the
// mirror agrees with the policy, capacity is respected, no insert failed,
// and every policy lies between nothing and MIN.
func TestAllPoliciesRun(t *testing.T) {
	tr := loadShared(t, "conversation_trace.jsonl").Slice(0, 3000)
	const capacity = 5000
	minRes, err := Run(tr, PolicyMIN, capacity, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range eviction.Names() {
		c, err := NewCache(name, capacity, tr)
		if err != nil {
			t.Fatal(err)
		}
		res := Replay(tr, c, capacity, nil)
		pc := c.(*PolicyCache)
		if pc.Failed != 0 {
			t.Errorf("%s: %d inserts found no victim", name, pc.Failed)
		}
		if pc.Len() != pc.Policy().Len() || pc.Len() > capacity {
			t.Errorf("%s: simulator holds %d, policy %d, capacity %d", name, pc.Len(), pc.Policy().Len(), capacity)
		}
		if res.HitRate <= 0 || res.HitRate > minRes.HitRate+1e-9 {
			t.Errorf("%s: hit rate %.4f outside (0, MIN=%.4f]", name, res.HitRate, minRes.HitRate)
		}
		t.Logf("%-7s %.4f (MIN %.4f)", name, res.HitRate, minRes.HitRate)
	}
}

// TestUpfrontVictimsMatchPinnedRun checks the LRU/FIFO fast path: taking a
// request's victims before applying it evicts the same blocks, in the same
// order, as the generic pinned block-by-block path.
func TestUpfrontVictimsMatchPinnedRun(t *testing.T) {
	tr := loadShared(t, "conversation_trace.jsonl").Slice(0, 2000)
	for _, name := range []string{"lru", "fifo"} {
		for _, capacity := range []int{300, 1000, 4000} {
			var seqs [2][]uint32
			var hits [2]int
			for i, upfront := range []bool{true, false} {
				p, err := eviction.New(name, capacity)
				if err != nil {
					t.Fatal(err)
				}
				c := NewPolicyCache(p, capacity, tr)
				c.upfront = upfront
				c.SetEvictFunc(func(b uint32) { seqs[i] = append(seqs[i], b) })
				hits[i] = Replay(tr, c, capacity, nil).HitBlocks
			}
			if hits[0] != hits[1] || len(seqs[0]) != len(seqs[1]) {
				t.Fatalf("%s/%d: hits %d vs %d, evictions %d vs %d", name, capacity, hits[0], hits[1], len(seqs[0]), len(seqs[1]))
			}
			for j := range seqs[0] {
				if seqs[0][j] != seqs[1][j] {
					t.Fatalf("%s/%d: eviction %d differs: %d vs %d", name, capacity, j, seqs[0][j], seqs[1][j])
				}
			}
		}
	}
}

func TestInfiniteCache(t *testing.T) {
	tr := build(t, []uint64{1, 2, 3}, []uint64{1, 2, 4}, []uint64{5}, []uint64{1, 2, 3, 6})
	res, err := Run(tr, PolicyInfinite, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Hits: 0, then 1-2, then 0, then 1-2-3.
	if res.HitBlocks != 5 || res.Blocks != 11 {
		t.Fatalf("hits %d of %d, want 5 of 11", res.HitBlocks, res.Blocks)
	}
}

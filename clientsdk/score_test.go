package clientsdk

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestScoreNodesAndPrefixLookup(t *testing.T) {
	cfg := DefaultScoreConfig()
	cfg.LoadWeight, cfg.LoadShare = 10, 0 // the unbounded load term
	ix := NewIndex(cfg)
	ix.SetMembers([]Member{{Name: "a"}, {Name: "b"}, {Name: "c", Load: 1}})
	h, _ := NewHasher(HashConfig{Model: "m", BlockSizes: []int{16, 32}})
	var p Prompt
	if err := h.Hash(&p, seq(64)); err != nil {
		t.Fatal(err)
	}
	l16, l32 := p.Levels[0], p.Levels[1]
	ix.Put("a", l16.IDs[0], TierCPU)
	ix.Put("a", l16.IDs[1], TierCPU)
	ix.Put("b", l16.IDs[2], TierDisk)
	ix.Put("c", ^l16.IDs[3], TierGPU) // not the prompt's block 3

	sc := ix.ScoreNodes(nil, &p, nil)
	want := map[string]float64{"a": 48*0.3 + 32*0.6, "b": 48*0.3 + 16*0.2, "c": 48*0.3 - 10}
	for _, s := range sc {
		if !near(s.Score, want[s.Node]) || s.CachedTokens != 48 {
			t.Fatalf("%s: %+v, want score %v over 48 cached tokens", s.Node, s, want[s.Node])
		}
	}
	pl := ix.PrefixLookup(nil, &p)
	for _, x := range pl {
		switch x.Node {
		case "a":
			if x.Blocks != 2 || x.Tokens != 32 || x.Tier != TierCPU || x.BlockSize != 16 {
				t.Fatalf("a: %+v", x)
			}
		default:
			if x.Blocks != 0 {
				t.Fatalf("%s: %+v, want no leading blocks", x.Node, x)
			}
		}
	}

	// A coarser level that b holds in GPU wins over the 16-token view.
	ix.Put("b", l32.IDs[0], TierGPU)
	ix.Put("b", l32.IDs[1], TierGPU)
	sc = ix.ScoreNodes(sc[:0], &p, []string{"b", "nobody"})
	if sc[0].Node != "b" || !near(sc[0].Score, 64) || sc[0].LocalTokens != 64 {
		t.Fatalf("b: %+v, want 64 from the 32-token level", sc[0])
	}
	if !near(sc[1].Score, 64*0.3) {
		t.Fatalf("unknown candidate: %+v, want remote worth only", sc[1])
	}
	pl = ix.PrefixLookup(pl[:0], &p)
	i := slices.IndexFunc(pl, func(x NodePrefix) bool { return x.Node == "b" })
	if pl[i].Blocks != 2 || pl[i].BlockSize != 32 || pl[i].Tier != TierGPU {
		t.Fatalf("b prefix: %+v", pl[i])
	}

	// Deleting block 0 leaves nothing cached at the 16-token level.
	ix.Delete(l16.IDs[0])
	ix.Delete(l32.IDs[0])
	sc = ix.ScoreNodes(sc[:0], &p, []string{"a"})
	if sc[0].CachedTokens != 0 || !near(sc[0].Score, 0) {
		t.Fatalf("after delete: %+v", sc[0])
	}
	if a := testing.AllocsPerRun(50, func() { sc = ix.ScoreNodes(sc[:0], &p, nil) }); a != 0 && !raceOn {
		t.Fatalf("ScoreNodes allocates %v per call", a)
	}
}

// Insert and delete many keys: every remaining key is still found (the
// backward-shift delete keeps probe chains intact across growth).
func TestIndexTable(t *testing.T) {
	ix := NewIndex(ScoreConfig{})
	ix.SetMembers([]Member{{Name: "a"}, {Name: "b"}})
	rng := rand.New(rand.NewPCG(1, 2))
	live := map[uint64]string{}
	for i := 0; i < 50000; i++ {
		k := rng.Uint64N(4096) * 0x9e3779b97f4a7c15 // few keys, often reused: deletes inside probe runs
		if rng.IntN(3) == 0 {
			ix.Delete(k)
			delete(live, k)
			continue
		}
		n := []string{"a", "b"}[rng.IntN(2)]
		ix.Put(n, k, TierCPU)
		live[k] = n
	}
	if ix.Len() != len(live) {
		t.Fatalf("len %d, want %d", ix.Len(), len(live))
	}
	for k, n := range live {
		if o, _, ok := ix.Owner(k); !ok || o != n {
			t.Fatalf("key %d: %q %v, want %q", k, o, ok, n)
		}
	}
	ix.SetMembers([]Member{{Name: "b"}})
	for k, n := range live {
		_, _, ok := ix.Owner(k)
		if ok != (n == "b") {
			t.Fatalf("key %d of %s after a left: present %v", k, n, ok)
		}
	}
}

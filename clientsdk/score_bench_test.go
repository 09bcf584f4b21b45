package clientsdk

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// benchIndex: 64 nodes, a 32,768-token prompt hashed at 16 and 512 whose
// every block is cached (the worst case: no early exit), spread over the
// nodes in runs, and 1M other entries so the table is not cache-resident.
func benchIndex(b *testing.B) (*Index, *Prompt) {
	ix := NewIndex(ScoreConfig{})
	ms := make([]Member, 64)
	for i := range ms {
		ms[i] = Member{Name: "node-" + string(rune('A'+i/26)) + string(rune('a'+i%26)), Load: float64(i % 5)}
	}
	ix.SetMembers(ms)
	h, _ := NewHasher(HashConfig{Model: "llama-3-8b", BlockSizes: []int{16, 512}})
	var p Prompt
	_ = h.Hash(&p, seq(32768))
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < benchBackground; i++ {
		ix.Put(ms[rng.IntN(64)].Name, rng.Uint64(), Tier(1+rng.IntN(4)))
	}
	for _, lv := range p.Levels {
		for i, id := range lv.IDs {
			ix.Put(ms[(i/8)%64].Name, id, Tier(1+i%4))
		}
	}
	return ix, &p
}

func BenchmarkScoreNodes(b *testing.B) {
	ix, p := benchIndex(b)
	dst := ix.ScoreNodes(nil, p, nil)
	if len(dst) != 64 || dst[0].CachedTokens != 32768 {
		b.Fatalf("setup: %d scores, %d cached", len(dst), dst[0].CachedTokens)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		dst = ix.ScoreNodes(dst[:0], p, nil)
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}

func BenchmarkPrefixLookup(b *testing.B) {
	ix, p := benchIndex(b)
	dst := ix.PrefixLookup(nil, p)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = ix.PrefixLookup(dst[:0], p)
	}
}

// BenchmarkHash32K: the chained hash alone (placement.PrefixHashes through
// the helper) and a whole Prompt (16- and 512-token levels plus the chunk
// ids the index is keyed by), over 32,768 tokens (131,072 token bytes).
func BenchmarkHash32K(b *testing.B) {
	h, _ := NewHasher(HashConfig{Model: "llama-3-8b", BlockSizes: []int{16, 512}})
	toks := seq(32768)
	b.Run("chain16", func(b *testing.B) {
		dst := make([]uint64, 0, 2048)
		b.SetBytes(int64(len(toks) * 4))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			dst, _ = h.PrefixHashes(dst[:0], toks, 16)
		}
	})
	b.Run("chain512", func(b *testing.B) {
		dst := make([]uint64, 0, 64)
		b.SetBytes(int64(len(toks) * 4))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			dst, _ = h.PrefixHashes(dst[:0], toks, 512)
		}
	})
	b.Run("prompt16+512+ids", func(b *testing.B) {
		var p Prompt
		b.SetBytes(int64(len(toks) * 4))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_ = h.Hash(&p, toks)
		}
	})
}

// benchBackground is the number of other artifacts in the benchmark index.
var benchBackground = 1 << 20

func BenchmarkScoreNodesSmallIndex(b *testing.B) {
	old := benchBackground
	benchBackground = 0
	defer func() { benchBackground = old }()
	BenchmarkScoreNodes(b)
}

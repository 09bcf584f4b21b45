package clientsdk

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stratacache/stratacache/cluster"
	"github.com/stratacache/stratacache/holdings"
)

// Summaries against a live cluster whose peer port separates roles: a
// scheduler holding only the subscriber token fetches each node's filter
// and scores from it.
func TestSummariesLiveCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 2-node cluster")
	}
	nodes := startLiveCluster(t, 2, func(c *cluster.Config) {
		c.PeerToken = []byte("peer")
		c.ClientToken = []byte("client")
		c.SubscriberToken = []byte("sub")
	})
	h, _ := NewHasher(HashConfig{Model: "llama-3-8b", BlockSizes: []int{16}})
	var a Prompt
	_ = h.Hash(&a, seq(160)) // 10 blocks
	storeBlocks(t, nodes[0], h, a.Levels[0], 0, 6)
	ix := NewIndex(ScoreConfig{})
	c := newClient(t, WithToken("sub"), WithIndex(ix))
	ms := peersOf(nodes)
	s := NewSummaries(ScoreConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Fetch(ctx, c, ms); err != nil {
		t.Fatal(err)
	}
	sc := s.ScoreNodes(nil, &a)
	slices.SortFunc(sc, func(x, y Score) int { return len(x.Node) - len(y.Node) + int(x.Node[1]) - int(y.Node[1]) })
	if len(sc) != 2 || sc[0].Node != "n1" || sc[0].LocalTokens < 96 || sc[1].LocalTokens != 0 || sc[0].Score <= sc[1].Score {
		t.Fatalf("scores from summaries: %+v", sc)
	}
	// The same token cannot read data through the peer port: the follower
	// works (directory views), a fetch does not.
	f := NewFollower(ix, c, StaticMembers(ms...))
	if err := f.Sync(ctx); err != nil || ix.Len() != 6 {
		t.Fatalf("subscriber follows: %v, %d indexed", err, ix.Len())
	}
}

// promptOf is a one-level prompt over given block ids (16 tokens each).
func promptOf(ids []uint64) *Prompt {
	return &Prompt{Tokens: 16 * len(ids), Levels: []Level{{BlockSize: 16, Hashes: ids, IDs: ids, LastTokens: 16}}}
}

// The summary's size and false positives, and what they do to prefix
// scores: 2,000 prompts of 64 blocks, of which one node holds a random
// leading run each (64,000-odd blocks); the filter's run for each prompt
// is compared with the true one. Figures logged for docs/BENCHMARKS.md:
// go test ./clientsdk -run TestSummaryFalsePositives -v
func TestSummaryFalsePositives(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const prompts, blocks = 2000, 64
	type pr struct {
		ids  []uint64
		held int
	}
	var ps []pr
	var keys []uint64
	for i := 0; i < prompts; i++ {
		p := pr{ids: make([]uint64, blocks), held: rng.IntN(blocks + 1)}
		for j := range p.ids {
			p.ids[j] = rng.Uint64()
		}
		keys = append(keys, p.ids[:p.held]...)
		ps = append(ps, p)
	}
	f, err := holdings.NewFilter(len(keys), holdings.DefaultBitsPerEntry, holdings.DefaultK)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		f.Add(k)
	}
	for _, k := range keys {
		if !f.Contains(k) {
			t.Fatal("a false negative")
		}
	}
	fp, probes := 0, 1_000_000
	for i := 0; i < probes; i++ {
		if f.Contains(rng.Uint64()) {
			fp++
		}
	}
	rate := float64(fp) / float64(probes)
	s := NewSummaries(ScoreConfig{})
	s.Set("n", f, 0)
	over, extra, eligible := 0, 0, 0
	var dst []Score
	for _, p := range ps {
		dst = s.ScoreNodes(dst[:0], promptOf(p.ids))
		got := dst[0].LocalTokens / 16
		if got < p.held {
			t.Fatalf("a prefix understated: %d < %d", got, p.held)
		}
		if p.held < blocks {
			eligible++
			if got > p.held {
				over++
				extra += got - p.held
			}
		}
	}
	bpe := float64(f.Bits()) / float64(f.Len())
	t.Logf("summary: %d blocks, %.2f bits per entry, k %d: false-positive rate %.4f%% (%d of %d random probes); prefix scores overstated for %d of %d prompts (%.3f%%), by %.2f blocks on average when they are",
		f.Len(), bpe, holdings.DefaultK, 100*rate, fp, probes, over, eligible, 100*float64(over)/float64(eligible), float64(extra)/float64(max(over, 1)))
	if rate > 0.01 || bpe > 17 {
		t.Fatalf("false-positive rate %.4f at %.2f bits per entry", rate, bpe)
	}
}

// summaryBench: 64 nodes' filters of 16k random blocks each plus the
// prompt's blocks as benchIndex spreads them (runs of 8 blocks per node:
// "spread"), or the whole prompt on every node ("all": no early exit).
func summaryBench(b *testing.B, all bool) (*Summaries, *Prompt) {
	h, _ := NewHasher(HashConfig{Model: "llama-3-8b", BlockSizes: []int{16, 512}})
	var p Prompt
	_ = h.Hash(&p, seq(32768))
	rng := rand.New(rand.NewPCG(7, 7))
	s := NewSummaries(ScoreConfig{})
	for n := 0; n < 64; n++ {
		var keys []uint64
		for i := 0; i < 16_384; i++ {
			keys = append(keys, rng.Uint64())
		}
		for _, lv := range p.Levels {
			for i, id := range lv.IDs {
				if all || (i/8)%64 == n {
					keys = append(keys, id)
				}
			}
		}
		f, _ := holdings.NewFilter(len(keys), holdings.DefaultBitsPerEntry, holdings.DefaultK)
		for _, k := range keys {
			f.Add(k)
		}
		s.Set("node-"+string(rune('A'+n/26))+string(rune('a'+n%26)), f, float64(n%5))
	}
	return s, &p
}

func BenchmarkSummariesScoreNodes(b *testing.B) {
	for _, c := range []struct {
		name string
		all  bool
	}{{"spread", false}, {"all", true}} {
		b.Run(c.name, func(b *testing.B) {
			s, p := summaryBench(b, c.all)
			dst := s.ScoreNodes(nil, p)
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				dst = s.ScoreNodes(dst[:0], p)
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
		})
	}
}

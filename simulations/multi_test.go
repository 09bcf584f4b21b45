package simulations

import (
	"errors"
	"testing"

	"github.com/stratacache/stratacache/simulations/trace"
	"github.com/stratacache/stratacache/simulations/workload"
)

func genTrace(t *testing.T, kind string, n int) *trace.Trace {
	t.Helper()
	cfg := workload.DefaultConfig()
	cfg.Requests = n
	tr, err := workload.Generate(kind, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestTieredOneTierEqualsSingleCache(t *testing.T) {
	tr := genTrace(t, workload.KindMix, 3000)
	single, err := Run(tr, "lru", 2000, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunTiered(tr, []TierSpec{{Name: "cpu", Capacity: 2000, Policy: "lru", GBps: 50}}, WriteBack, DefaultCostModel(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.HitBlocks != single.HitBlocks {
		t.Fatalf("one tier: %d hits, single cache %d", res.HitBlocks, single.HitBlocks)
	}
}

func TestTieredLowerTiersAddHits(t *testing.T) {
	tr := genTrace(t, workload.KindMix, 3000)
	specs := []TierSpec{
		{Name: "cpu", Capacity: 500, Policy: "lru", GBps: 50},
		{Name: "cxl", Capacity: 2000, Policy: "lru", GBps: 30},
		{Name: "disk", Capacity: 8000, Policy: "lru", GBps: 7},
	}
	top, err := Run(tr, "lru", 500, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, link := range []LinkPolicy{WriteBack, WriteThrough} {
		res, err := RunTiered(tr, specs, link, DefaultCostModel(), nil)
		if err != nil {
			t.Fatal(err)
		}
		sum := 0
		for _, tier := range res.Tiers {
			sum += tier.HitBlocks
		}
		if sum != res.HitBlocks || res.HitBlocks <= top.HitBlocks {
			t.Fatalf("%v: tier hits %d, total %d, top tier alone %d", link, sum, res.HitBlocks, top.HitBlocks)
		}
		if res.Tiers[1].PromotedBytes == 0 || res.SavedSec <= 0 || res.SavedFraction >= 1 {
			t.Fatalf("%v: %+v", link, res)
		}
		switch link {
		case WriteBack:
			if res.Tiers[1].DemotedBytes == 0 || res.Tiers[1].FlushedBytes != 0 {
				t.Fatalf("write-back moves: %+v", res.Tiers[1])
			}
		case WriteThrough:
			if res.Tiers[1].FlushedBytes == 0 {
				t.Fatalf("write-through moves: %+v", res.Tiers[1])
			}
		}
		t.Logf("%v: hit %.4f saved %.1f%% tiers %+v", link, res.HitRate, 100*res.SavedFraction, res.Tiers)
	}
}

func TestCostModelSaving(t *testing.T) {
	m := DefaultCostModel()
	// 512 tokens: 20.48 ms of prefill; 64 MiB over 50 GB/s is 1.34 ms.
	if got := m.saving(512, 50); got < 0.0190 || got > 0.0192 {
		t.Fatalf("saving %.5f s, want about 0.0191", got)
	}
	// Loading slower than recomputing saves nothing.
	if got := m.saving(512, 0.1); got != 0 {
		t.Fatalf("saving %.5f, want 0", got)
	}
	if err := (CostModel{}).Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("validate: %v", err)
	}
}

func TestParseTiersAndCapacities(t *testing.T) {
	ts, err := ParseTiers("cpu:5k,cxl:20000:s3fifo,disk:100000:lru:3.5", "lru")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 3 || ts[0].Capacity != 5000 || ts[1].Policy != "s3fifo" || ts[2].GBps != 3.5 || ts[0].GBps != 50 {
		t.Fatalf("%+v", ts)
	}
	for _, bad := range []string{"", "cpu", "cpu:x", "cpu:10:lru:-1"} {
		if _, err := ParseTiers(bad, "lru"); !errors.Is(err, ErrConfig) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	caps, err := ParseCapacities("5k,1000,10%,0.5,1000", 10000)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{1000, 5000}
	if len(caps) != len(want) || caps[0] != 1000 || caps[1] != 5000 {
		t.Fatalf("caps %v", caps)
	}
	auto, err := ParseCapacities("auto", 100000)
	if err != nil || len(auto) != len(AutoFractions) || auto[len(auto)-1] != 100000 {
		t.Fatalf("auto %v %v", auto, err)
	}
	for _, bad := range []string{"", "-1", "x", "2.5", "0%"} {
		if _, err := ParseCapacities(bad, 100); !errors.Is(err, ErrCapacity) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestRoutersChoose(t *testing.T) {
	nodes := []NodeState{{QueueSec: 2, Requests: 5}, {QueueSec: 0.5, Requests: 9}, {QueueSec: 0.5, Requests: 3}}
	scores := []int{10, 4, 4}
	blocks := make([]uint32, 12)
	cases := []struct {
		name string
		want int
	}{
		{"least-loaded", 2}, // equal queues: fewer requests wins
		{"prefix", 0},       // longest prefix regardless of load
		// prefix-load: node 0 costs 2 + 2x0.02 s, node 2 0.5 + 8x0.02 s.
		{"prefix-load", 2},
	}
	for _, c := range cases {
		r, err := NewRouter(c.name, 1, 0.02)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Route(blocks, nodes, scores); got != c.want {
			t.Errorf("%s chose %d, want %d", c.name, got, c.want)
		}
	}
	// With slow prefill a long prefix outweighs the queue; with fast
	// prefill the queue wins.
	r, _ := NewRouter("prefix-load", 1, 0.5)
	if got := r.Route(blocks, nodes, scores); got != 0 {
		t.Errorf("slow prefill: chose %d, want 0", got)
	}
	r, _ = NewRouter("prefix-load", 1, 0.01)
	if got := r.Route(blocks, nodes, scores); got != 2 {
		t.Errorf("fast prefill: chose %d, want 2", got)
	}
	rr, _ := NewRouter("round-robin", 1, 0)
	for i := 0; i < 6; i++ {
		if got := rr.Route(blocks, nodes, nil); got != i%3 {
			t.Fatalf("round-robin step %d chose %d", i, got)
		}
	}
	if _, err := NewRouter("nope", 1, 0); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad router: %v", err)
	}
}

func TestClusterPrefixRoutingBeatsRandom(t *testing.T) {
	tr := genTrace(t, workload.KindChat, 4000)
	caps := []int{1500, 1500, 1500, 1500}
	cost := DefaultCostModel()
	blockSec := float64(tr.BlockTokens) / cost.PrefillTokensPerSec
	results := map[string]ClusterResult{}
	for _, name := range Routers {
		r, err := NewRouter(name, 3, blockSec)
		if err != nil {
			t.Fatal(err)
		}
		res, err := RunCluster(tr, "lru", caps, r, nil, cost, nil)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, n := range res.Nodes {
			total += n.Requests
		}
		if total != tr.Len() || res.Imbalance < 1 {
			t.Fatalf("%s: %d requests routed of %d, imbalance %.2f", name, total, tr.Len(), res.Imbalance)
		}
		results[name] = res
		t.Logf("%-12s hit %.4f mean TTFT %.1f ms p99 %.1f imbalance %.2f", name, res.HitRate, res.MeanTTFTMs, res.P99TTFTMs, res.Imbalance)
	}
	if results["prefix"].HitRate <= results["random"].HitRate || results["prefix"].HitRate <= results["round-robin"].HitRate {
		t.Errorf("prefix routing hit rate %.4f not above random %.4f and round-robin %.4f",
			results["prefix"].HitRate, results["random"].HitRate, results["round-robin"].HitRate)
	}
	if results["prefix-load"].MeanTTFTMs > results["random"].MeanTTFTMs {
		t.Errorf("prefix-load mean TTFT %.1f above random %.1f", results["prefix-load"].MeanTTFTMs, results["random"].MeanTTFTMs)
	}
}

// TestWriteThroughFlushesDeepestFirst: a lower tier receives a request's
// blocks in the order the top tier applies them, deepest first, so an
// LRU-like lower tier holds each chain with its leaf least recent and
// evicts leaves before the blocks they hang from.
func TestWriteThroughFlushesDeepestFirst(t *testing.T) {
	tr := build(t, []uint64{1, 2, 3})
	specs := []TierSpec{{Name: "cpu", Capacity: 3, Policy: "lru", GBps: 50}, {Name: "cxl", Capacity: 3, Policy: "lru", GBps: 30}}
	tt, err := newTiered(tr, specs, WriteThrough, DefaultCostModel())
	if err != nil {
		t.Fatal(err)
	}
	var out TieredResult
	tt.request(0, &out)
	lower := tt.tiers[1].Policy()
	for _, want := range []uint64{3, 2, 1} { // dense ids of keys 3, 2, 1
		if got, ok := lower.Evict(); !ok || got != want {
			t.Fatalf("lower tier evicts %d (%v), want %d: the chain's leaf first", got, ok, want)
		}
	}
}

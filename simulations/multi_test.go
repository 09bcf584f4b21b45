package simulations

import (
	"errors"
	"slices"
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
	nodes := []NodeState{
		{QueueSec: 2, Requests: 5, CachedTokens: 5120, Score: 5120 - 2*25000},
		{QueueSec: 0.5, Requests: 9, CachedTokens: 2048, Score: 2048 - 0.5*25000},
		{QueueSec: 0.5, Requests: 3, CachedTokens: 2048, Score: 2048 - 0.5*25000},
	}
	cases := []struct {
		name string
		want int
	}{
		{"least-loaded", 2}, // equal queues: fewer requests wins
		{"prefix", 0},       // longest prefix regardless of load
		{"prefix-load", 2},  // the best score; ties to the less loaded
	}
	for _, c := range cases {
		r, err := NewRouter(c.name, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Route(nodes); got != c.want {
			t.Errorf("%s chose %d, want %d", c.name, got, c.want)
		}
	}
	rr, _ := NewRouter("round-robin", 1)
	for i := 0; i < 6; i++ {
		if got := rr.Route(nodes); got != i%3 {
			t.Fatalf("round-robin step %d chose %d", i, got)
		}
	}
	if _, err := NewRouter("nope", 1); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad router: %v", err)
	}
}

func runCluster(t *testing.T, tr *trace.Trace, router string, caps []int, k Knowledge) ClusterResult {
	t.Helper()
	r, err := NewRouter(router, 3)
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunCluster(tr, ClusterConfig{Policy: "lru", Capacities: caps, Router: r, Knowledge: k, Cost: DefaultCostModel()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestClusterPrefixRoutingBeatsRandom(t *testing.T) {
	tr := genTrace(t, workload.KindChat, 4000)
	caps := []int{1500, 1500, 1500, 1500}
	results := map[string]ClusterResult{}
	for _, name := range Routers {
		res := runCluster(t, tr, name, caps, Knowledge{})
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

// TestRouterViewFollowsUpdates: the routers' index learns a block only once
// its update has arrived (lag), forgets it on the holder's delete, names
// another holder when the indexed owner drops a block, and learns nothing
// from dropped updates.
func TestRouterViewFollowsUpdates(t *testing.T) {
	v := newRouterView(3, 10, Knowledge{LagSec: 1}, 25000)
	nodes := make([]NodeState, 3)
	score := func(now float64) []int {
		v.advance(now)
		v.score([]uint32{1, 2}, 1024, 512, nodes)
		return []int{nodes[0].CachedTokens, nodes[1].CachedTokens, nodes[2].CachedTokens}
	}
	v.publish(10, 1, 1, true)
	v.publish(10, 1, 2, true)
	if got := score(10.5); !slices.Equal(got, []int{0, 0, 0}) {
		t.Fatalf("before the lag: %v", got)
	}
	if got := score(11); !slices.Equal(got, []int{0, 1024, 0}) {
		t.Fatalf("after the lag: %v", got)
	}
	v.publish(12, 2, 2, true) // node 2 stores block 2 too: newest owner
	if got := score(13); !slices.Equal(got, []int{0, 512, 512}) {
		t.Fatalf("two holders: %v", got)
	}
	v.publish(13, 2, 2, false) // node 2 drops it: node 1 still has it
	if got := score(14); !slices.Equal(got, []int{0, 1024, 0}) {
		t.Fatalf("after the newest owner's delete: %v", got)
	}
	v.publish(14, 1, 1, false)
	if got := score(15); !slices.Equal(got, []int{0, 0, 0}) {
		t.Fatalf("root gone, nothing scores: %v", got)
	}
	// Queued work costs its seconds at the prefill rate.
	nodes[1].QueueSec = 0.01
	v.publish(15, 1, 1, true)
	v.advance(16)
	v.score([]uint32{1, 2}, 1024, 512, nodes)
	if nodes[1].Score != 1024-250 {
		t.Fatalf("score %v, want 1024 tokens - 0.01 s x 25000 tokens/s", nodes[1].Score)
	}

	lost := newRouterView(2, 10, Knowledge{Drop: 1}, 25000)
	lost.publish(0, 0, 1, true)
	lost.advance(1)
	lost.score([]uint32{1}, 512, 512, nodes[:2])
	if nodes[0].CachedTokens != 0 || lost.Dropped != 1 {
		t.Fatalf("a dropped update was applied: %+v", nodes[0])
	}
}

// TestKnowledgeCostsHits: stale or lossy knowledge never helps prefix
// routing much and far stale knowledge clearly hurts; summaries that claim
// everything show up as the nodes' false-positive rate.
func TestKnowledgeCostsHits(t *testing.T) {
	tr := genTrace(t, workload.KindChat, 3000)
	caps := []int{1000, 1000, 1000, 1000}
	exact := runCluster(t, tr, "prefix-load", caps, Knowledge{})
	stale := runCluster(t, tr, "prefix-load", caps, Knowledge{LagSec: 600})
	lossy := runCluster(t, tr, "prefix-load", caps, Knowledge{Drop: 0.5, Seed: 1})
	noisy := runCluster(t, tr, "prefix-load", caps, Knowledge{FPR: 0.5, Seed: 1})
	t.Logf("exact %.4f, lag 600 s %.4f, drop 50%% %.4f (%d of %d), fpr 0.5 %.4f", exact.HitRate, stale.HitRate, lossy.HitRate,
		lossy.DroppedUpdates, lossy.Updates, noisy.HitRate)
	if stale.HitRate >= exact.HitRate || lossy.HitRate >= exact.HitRate {
		t.Errorf("exact %.4f, lag 600 s %.4f, drop 50%% %.4f: bad knowledge did not cost hits", exact.HitRate, stale.HitRate, lossy.HitRate)
	}
	if lossy.DroppedUpdates == 0 || lossy.DroppedUpdates > lossy.Updates*6/10 || lossy.DroppedUpdates < lossy.Updates*4/10 {
		t.Errorf("dropped %d of %d updates, want about half", lossy.DroppedUpdates, lossy.Updates)
	}
	for i := range caps {
		if e, n := exact.Nodes[i].FalsePositiveRate, noisy.Nodes[i].FalsePositiveRate; n <= e || n < 0.02 {
			t.Errorf("node %d: false-positive rate %.3f with noisy summaries, %.3f exact", i, n, e)
		}
	}
	if _, err := RunCluster(tr, ClusterConfig{Policy: "lru", Capacities: caps, Router: prefixLoad{}, Cost: DefaultCostModel(), Knowledge: Knowledge{Drop: 2}}, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("drop share 2: %v", err)
	}
}

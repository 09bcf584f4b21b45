package simulations

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/stratacache/stratacache/simulations/trace"
)

// NodeResult is one node's share of a multi-node run.
type NodeResult struct {
	Node      int     `json:"node"`
	Capacity  int     `json:"capacity"`
	Requests  int     `json:"requests"`
	Blocks    int     `json:"blocks"`
	HitBlocks int     `json:"hit_blocks"`
	HitRate   float64 `json:"hit_rate"`
	BusySec   float64 `json:"busy_seconds"`
}

// ClusterResult is the outcome of a multi-node run.
type ClusterResult struct {
	Trace     string       `json:"trace"`
	Router    string       `json:"router"`
	Policy    string       `json:"policy"`
	Requests  int          `json:"requests"`
	Blocks    int          `json:"blocks"`
	HitBlocks int          `json:"hit_blocks"`
	HitRate   float64      `json:"hit_rate"`
	Nodes     []NodeResult `json:"nodes"`
	// Imbalance is the busiest node's prefill work over the mean (1 is
	// perfect balance).
	Imbalance float64 `json:"imbalance"`
	// Estimated time to first token: queueing plus prefill of the missed
	// blocks under the cost model (decode and transfers not modelled).
	MeanTTFTMs float64 `json:"mean_ttft_ms"`
	P99TTFTMs  float64 `json:"p99_ttft_ms"`
	Seconds    float64 `json:"seconds"`
}

// RunCluster replays tr over len(capacities) nodes, each a cache of the
// named policy, routing every request with router. Each node prefills
// one request at a time at the cost model's rate; a request's service time
// is the prefill of the tokens it misses on its node.
func RunCluster(tr *trace.Trace, policy string, capacities []int, router Router, scorer PrefixScorer, cost CostModel, progress Progress) (ClusterResult, error) {
	if err := cost.Validate(); err != nil {
		return ClusterResult{}, err
	}
	if len(capacities) == 0 {
		return ClusterResult{}, fmt.Errorf("%w: no nodes", ErrConfig)
	}
	nodes := make([]*PolicyCache, len(capacities))
	res := make([]NodeResult, len(capacities))
	for i, c := range capacities {
		cache, err := NewCache(policy, c, tr)
		if err != nil {
			return ClusterResult{}, fmt.Errorf("node %d: %w", i, err)
		}
		pc, ok := cache.(*PolicyCache)
		if !ok {
			return ClusterResult{}, fmt.Errorf("%w: multi-node mode drives eviction policies only, not %q", ErrConfig, policy)
		}
		nodes[i] = pc
		res[i] = NodeResult{Node: i, Capacity: c}
	}
	if scorer == nil {
		scorer = CacheScorer{Nodes: nodes}
	}
	start := time.Now()
	state := make([]NodeState, len(nodes))
	busyUntil := make([]float64, len(nodes))
	var scores []int
	ttft := make([]float64, 0, tr.Len())
	out := ClusterResult{Trace: tr.Name, Router: router.Name(), Policy: policy, Requests: tr.Len(), Blocks: tr.Accesses()}
	for r := 0; r < tr.Len(); r++ {
		lo, hi := tr.Offsets[r], tr.Offsets[r+1]
		blocks := tr.Blocks[lo:hi]
		now := float64(tr.TimestampsMs[r]) / 1000
		for i := range state {
			state[i].QueueSec = max(0, busyUntil[i]-now)
		}
		if router.NeedsScores() {
			scores = scorer.Score(blocks, scores)
		}
		k := router.Route(blocks, state, scores)
		if k < 0 || k >= len(nodes) {
			return ClusterResult{}, fmt.Errorf("%w: router %s chose node %d of %d", ErrConfig, router.Name(), k, len(nodes))
		}
		hit := nodes[k].Access(blocks, int(lo))
		n := len(blocks)
		missTok := 0.0
		for i := hit; i < n; i++ {
			missTok += blockTokens(i, n, tr.InputTokens[r], tr.BlockTokens)
		}
		service := cost.prefillSec(missTok)
		wait := state[k].QueueSec
		busyUntil[k] = now + wait + service
		state[k].Requests++
		ttft = append(ttft, wait+service)
		nr := &res[k]
		nr.Requests++
		nr.Blocks += n
		nr.HitBlocks += hit
		nr.BusySec += service
		out.HitBlocks += hit
		if progress != nil && r&4095 == 4095 {
			progress(int(hi))
		}
	}
	out.Seconds = time.Since(start).Seconds()
	if out.Blocks > 0 {
		out.HitRate = float64(out.HitBlocks) / float64(out.Blocks)
	}
	var sum, peak float64
	for i := range res {
		if res[i].Blocks > 0 {
			res[i].HitRate = float64(res[i].HitBlocks) / float64(res[i].Blocks)
		}
		sum += res[i].BusySec
		peak = max(peak, res[i].BusySec)
	}
	if sum > 0 {
		out.Imbalance = peak / (sum / float64(len(res)))
	}
	if len(ttft) > 0 {
		var s float64
		for _, v := range ttft {
			s += v
		}
		out.MeanTTFTMs = s / float64(len(ttft)) * 1000
		slices.Sort(ttft)
		out.P99TTFTMs = ttft[int(math.Ceil(0.99*float64(len(ttft))))-1] * 1000
	}
	out.Nodes = res
	if progress != nil {
		progress(tr.Accesses())
	}
	return out, nil
}

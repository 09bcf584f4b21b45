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
	// What the routers believed of this node for the requests they sent
	// it (scoring routers only): the cached tokens they credited it with,
	// the tokens it really had cached (its leading hit), and the share of
	// the credited tokens it did not have.
	BelievedTokens    int64   `json:"believed_tokens"`
	HitTokens         int64   `json:"hit_tokens"`
	FalsePositiveRate float64 `json:"false_positive_rate"`
}

// ClusterResult is the outcome of a multi-node run.
type ClusterResult struct {
	Trace     string       `json:"trace"`
	Router    string       `json:"router"`
	Policy    string       `json:"policy"`
	Knowledge Knowledge    `json:"knowledge"`
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
	// Updates the nodes published and how many were dropped.
	Updates        int     `json:"updates"`
	DroppedUpdates int     `json:"dropped_updates"`
	Seconds        float64 `json:"seconds"`
}

// ClusterConfig describes a multi-node run.
type ClusterConfig struct {
	// Policy names the eviction policy of every node (an eviction.New name).
	Policy string
	// Capacities holds each node's capacity in blocks (one per node).
	Capacities []int
	Router     Router
	Knowledge  Knowledge
	Cost       CostModel
}

// RunCluster replays tr over len(cfg.Capacities) nodes, each a cache of the
// named policy, routing every request with cfg.Router. Each node prefills
// one request at a time at the cost model's rate; a request's service time
// is the prefill of the tokens it misses on its node. Scoring routers see
// the nodes through clientsdk's Index and ScoreNodes, fed per
// cfg.Knowledge: a node publishes a put for each block a request stores
// and a delete for each block it evicts when the request's prefill ends.
func RunCluster(tr *trace.Trace, cfg ClusterConfig, progress Progress) (ClusterResult, error) {
	if err := cfg.Cost.Validate(); err != nil {
		return ClusterResult{}, err
	}
	if err := cfg.Knowledge.Validate(); err != nil {
		return ClusterResult{}, err
	}
	n := len(cfg.Capacities)
	if n == 0 || n > maxNodes {
		return ClusterResult{}, fmt.Errorf("%w: %d nodes (want 1 to %d)", ErrConfig, n, maxNodes)
	}
	if cfg.Router == nil {
		return ClusterResult{}, fmt.Errorf("%w: no router", ErrConfig)
	}
	nodes := make([]*PolicyCache, n)
	res := make([]NodeResult, n)
	var evicted []uint32
	for i, c := range cfg.Capacities {
		cache, err := NewCache(cfg.Policy, c, tr)
		if err != nil {
			return ClusterResult{}, fmt.Errorf("node %d: %w", i, err)
		}
		pc, ok := cache.(*PolicyCache)
		if !ok {
			return ClusterResult{}, fmt.Errorf("%w: multi-node mode drives eviction policies only, not %q", ErrConfig, cfg.Policy)
		}
		pc.SetEvictFunc(func(b uint32) { evicted = append(evicted, b) })
		nodes[i] = pc
		res[i] = NodeResult{Node: i, Capacity: c}
	}
	scoring := cfg.Router.NeedsScores()
	var view *routerView
	if scoring {
		view = newRouterView(n, tr.NumBlocks(), cfg.Knowledge, cfg.Cost.PrefillTokensPerSec)
	}
	start := time.Now()
	state := make([]NodeState, n)
	busyUntil := make([]float64, n)
	var before []bool
	ttft := make([]float64, 0, tr.Len())
	out := ClusterResult{Trace: tr.Name, Router: cfg.Router.Name(), Policy: cfg.Policy, Knowledge: cfg.Knowledge,
		Requests: tr.Len(), Blocks: tr.Accesses()}
	for r := 0; r < tr.Len(); r++ {
		lo, hi := tr.Offsets[r], tr.Offsets[r+1]
		blocks := tr.Blocks[lo:hi]
		now := float64(tr.TimestampsMs[r]) / 1000
		for i := range state {
			state[i].QueueSec = max(0, busyUntil[i]-now)
		}
		if scoring {
			view.advance(now)
			view.score(blocks, tr.InputTokens[r], tr.BlockTokens, state)
		}
		k := cfg.Router.Route(state)
		if k < 0 || k >= n {
			return ClusterResult{}, fmt.Errorf("%w: router %s chose node %d of %d", ErrConfig, cfg.Router.Name(), k, n)
		}
		node := nodes[k]
		if scoring {
			before = before[:0]
			for _, b := range blocks {
				before = append(before, node.Contains(b))
			}
		}
		evicted = evicted[:0]
		hit := node.Access(blocks, int(lo))
		nb := len(blocks)
		missTok, hitTok := 0.0, 0.0
		for i := 0; i < nb; i++ {
			t := blockTokens(i, nb, tr.InputTokens[r], tr.BlockTokens)
			if i < hit {
				hitTok += t
			} else {
				missTok += t
			}
		}
		service := cfg.Cost.prefillSec(missTok)
		wait := state[k].QueueSec
		done := now + wait + service
		busyUntil[k] = done
		state[k].Requests++
		ttft = append(ttft, wait+service)
		nr := &res[k]
		nr.Requests++
		nr.Blocks += nb
		nr.HitBlocks += hit
		nr.BusySec += service
		out.HitBlocks += hit
		if scoring {
			nr.BelievedTokens += int64(state[k].CachedTokens)
			nr.HitTokens += int64(hitTok)
			if fp := float64(state[k].CachedTokens) - hitTok; fp > 0 {
				nr.FalsePositiveRate += fp // a sum until the end
			}
			// The node publishes what the request changed once its
			// prefill is done.
			for _, b := range evicted {
				view.publish(done, k, b, false)
			}
			for i, b := range blocks {
				if !before[i] && node.Contains(b) {
					view.publish(done, k, b, true)
				}
			}
		}
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
		if res[i].BelievedTokens > 0 {
			res[i].FalsePositiveRate /= float64(res[i].BelievedTokens)
		} else {
			res[i].FalsePositiveRate = 0
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
	if view != nil {
		out.Updates, out.DroppedUpdates = view.Sent, view.Dropped
	}
	out.Nodes = res
	if progress != nil {
		progress(tr.Accesses())
	}
	return out, nil
}

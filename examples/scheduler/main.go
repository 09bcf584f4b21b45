// Command scheduler replays a Mooncake-style trace (JSONL with timestamp,
// input_length, output_length and hash_ids of 512-token blocks) against a
// set of simulated inference nodes and prints, for random, round-robin,
// least-loaded and prefix-aware routing, the prefix hit rate each achieves.
//
// Each node keeps an LRU of KV blocks; what it caches and evicts is fed to
// a clientsdk.Index as the cluster's ownership directory would be, and the
// prefix-aware router asks that index's ScoreNodes (tier weights and load
// term) for every request: the same code a real scheduler runs.
//
//	go run ./examples/scheduler -trace ../shared/traces/conversation_trace.jsonl -nodes 8 -capacity 4000
//	go run ./examples/scheduler -live -limit 500 -nodes 3 -capacity 2000
package main

import (
	"bufio"
	"container/list"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"

	"github.com/cespare/xxhash/v2"

	"github.com/stratacache/stratacache/clientsdk"
)

// request is one trace line.
type request struct {
	TimestampMs int64    `json:"timestamp"`
	Input       int      `json:"input_length"`
	Output      int      `json:"output_length"`
	HashIDs     []uint64 `json:"hash_ids"`
}

// config of one replay.
type config struct {
	Nodes     int
	Capacity  int     // blocks per node
	BlockSize int     // tokens per trace block
	Limit     int     // requests (0: all)
	Seed      uint64  // random routing
	PrefillS  float64 // seconds per uncached token
	DecodeS   float64 // seconds per output token
	// Live replays against clustered nodes in this process (-live),
	// storing BlockBytes per block.
	Live       bool
	BlockBytes int
}

// result of one policy.
type result struct {
	Policy       string
	Requests     int
	Blocks, Hits int
	MaxShare     float64 // largest fraction of requests sent to one node
	MeanInFlight float64
}

func (r result) HitRate() float64 {
	if r.Blocks == 0 {
		return 0
	}
	return float64(r.Hits) / float64(r.Blocks)
}

func readTrace(r io.Reader, limit int) ([]request, error) {
	var out []request
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var q request
		if err := json.Unmarshal(sc.Bytes(), &q); err != nil {
			return nil, fmt.Errorf("trace line %d: %w", len(out)+1, err)
		}
		out = append(out, q)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, sc.Err()
}

// node is a simulated inference node: an LRU of block ids and the
// requests it is serving.
type simNode struct {
	name   string
	lru    *list.List
	blocks map[uint64]*list.Element
	ends   []float64 // finish times of requests in flight
}

// blockID is the artifact id hash a block is indexed under.
func blockID(h uint64) uint64 {
	var b [8]byte
	for i := range b {
		b[i] = byte(h >> (8 * i))
	}
	return xxhash.Sum64(b[:])
}

func (n *simNode) inFlight(now float64) int {
	k := 0
	for _, e := range n.ends {
		if e > now {
			n.ends[k] = e
			k++
		}
	}
	n.ends = n.ends[:k]
	return k
}

// serve caches the request's blocks on the node (the index follows) and
// returns how many leading blocks were already cached.
func (n *simNode) serve(ix *clientsdk.Index, ids []uint64, capacity int) int {
	hit := 0
	for hit < len(ids) && n.blocks[ids[hit]] != nil {
		hit++
	}
	for _, id := range ids {
		if e := n.blocks[id]; e != nil {
			n.lru.MoveToFront(e)
			continue
		}
		n.blocks[id] = n.lru.PushFront(id)
		ix.Put(n.name, blockID(id), clientsdk.TierGPU)
		for n.lru.Len() > capacity {
			old := n.lru.Remove(n.lru.Back()).(uint64)
			delete(n.blocks, old)
			ix.Delete(blockID(old))
		}
	}
	return hit
}

var policies = []string{"random", "round-robin", "least-loaded", "prefix-aware"}

// replay runs the trace through one routing policy.
func replay(reqs []request, cfg config, policy string) result {
	sc := clientsdk.DefaultScoreConfig()
	sc.TierWeights[clientsdk.TierRemote] = 0 // simulated nodes do not share
	// The unbounded load term the figures in docs/clientsdk.md were
	// measured with.
	sc.LoadWeight, sc.LoadShare = float64(cfg.BlockSize)*2, 0
	ix := clientsdk.NewIndex(sc)
	nodes := make([]*simNode, cfg.Nodes)
	ms := make([]clientsdk.Member, cfg.Nodes)
	for i := range nodes {
		nodes[i] = &simNode{name: "node-" + strconv.Itoa(i), lru: list.New(), blocks: map[uint64]*list.Element{}}
		ms[i] = clientsdk.Member{Name: nodes[i].name}
	}
	ix.SetMembers(ms)
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed))
	res := result{Policy: policy}
	counts := make([]int, cfg.Nodes)
	var p clientsdk.Prompt
	p.Levels = []clientsdk.Level{{BlockSize: cfg.BlockSize}}
	var scores []clientsdk.Score
	var inflight float64
	for i, q := range reqs {
		if len(q.HashIDs) == 0 {
			continue
		}
		now := float64(q.TimestampMs) / 1000
		loads := make([]int, cfg.Nodes)
		for j, n := range nodes {
			loads[j] = n.inFlight(now)
		}
		var pick int
		switch policy {
		case "random":
			pick = rng.IntN(cfg.Nodes)
		case "round-robin":
			pick = i % cfg.Nodes
		case "least-loaded":
			for j := range nodes {
				if loads[j] < loads[pick] {
					pick = j
				}
			}
		case "prefix-aware":
			lv := &p.Levels[0]
			lv.IDs = lv.IDs[:0]
			for _, h := range q.HashIDs {
				lv.IDs = append(lv.IDs, blockID(h))
			}
			lv.Hashes = lv.IDs
			lv.LastTokens = q.Input - (len(q.HashIDs)-1)*cfg.BlockSize
			if lv.LastTokens <= 0 || lv.LastTokens > cfg.BlockSize {
				lv.LastTokens = cfg.BlockSize
			}
			p.Tokens = q.Input
			for j, n := range nodes {
				ix.SetLoad(n.name, float64(loads[j]))
			}
			scores = ix.ScoreNodes(scores[:0], &p, nil)
			for j := range scores {
				if scores[j].Score > scores[pick].Score {
					pick = j
				}
			}
		}
		n := nodes[pick]
		hit := n.serve(ix, q.HashIDs, cfg.Capacity)
		uncached := max(q.Input-hit*cfg.BlockSize, 0)
		n.ends = append(n.ends, now+float64(uncached)*cfg.PrefillS+float64(q.Output)*cfg.DecodeS)
		counts[pick]++
		inflight += float64(loads[pick])
		res.Requests++
		res.Blocks += len(q.HashIDs)
		res.Hits += hit
	}
	for _, c := range counts {
		res.MaxShare = max(res.MaxShare, float64(c)/float64(max(res.Requests, 1)))
	}
	res.MeanInFlight = inflight / float64(max(res.Requests, 1))
	return res
}

func run(w io.Writer, tracePath string, cfg config) ([]result, error) {
	if cfg.Nodes <= 0 || cfg.Capacity <= 0 || cfg.BlockSize <= 0 || (cfg.Live && cfg.BlockBytes <= 0) {
		return nil, errors.New("scheduler: -nodes, -capacity, -block and -block-bytes must be positive")
	}
	f, err := os.Open(tracePath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	reqs, err := readTrace(f, cfg.Limit)
	if err != nil {
		return nil, err
	}
	if cfg.Live {
		lr, err := runLive(w, reqs, cfg)
		out := make([]result, len(lr))
		for i := range lr {
			out[i] = lr[i].result
		}
		return out, err
	}
	fmt.Fprintf(w, "%d requests, %d nodes x %d blocks of %d tokens\n", len(reqs), cfg.Nodes, cfg.Capacity, cfg.BlockSize)
	fmt.Fprintf(w, "%-14s %9s %9s %10s %12s\n", "routing", "requests", "hit rate", "max share", "in flight")
	var out []result
	for _, pol := range policies {
		r := replay(reqs, cfg, pol)
		out = append(out, r)
		fmt.Fprintf(w, "%-14s %9d %9.4f %10.3f %12.2f\n", r.Policy, r.Requests, r.HitRate(), r.MaxShare, r.MeanInFlight)
	}
	return out, nil
}

func main() {
	var cfg config
	trace := flag.String("trace", "../shared/traces/conversation_trace.jsonl", "Mooncake-style JSONL trace")
	flag.IntVar(&cfg.Nodes, "nodes", 8, "inference nodes")
	flag.IntVar(&cfg.Capacity, "capacity", 4000, "KV blocks each node caches")
	flag.IntVar(&cfg.BlockSize, "block", 512, "tokens per trace block")
	flag.IntVar(&cfg.Limit, "limit", 0, "replay only the first N requests (0: all)")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "seed of random routing")
	flag.Float64Var(&cfg.PrefillS, "prefill-s", 2e-5, "seconds per uncached prompt token")
	flag.Float64Var(&cfg.DecodeS, "decode-s", 2e-2, "seconds per output token")
	flag.BoolVar(&cfg.Live, "live", false, "replay against clustered nodes started in this process (use with -limit)")
	flag.IntVar(&cfg.BlockBytes, "block-bytes", 4096, "bytes stored per block with -live")
	flag.Parse()
	if _, err := run(os.Stdout, *trace, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/clientsdk"
	"github.com/stratacache/stratacache/cluster"
	"github.com/stratacache/stratacache/node"
)

// liveCluster is N clustered nodes in this process (what `stratacache
// local-cluster` runs), one pinned clientsdk client per node (the
// inference worker beside it), and the scheduler's index with its
// follower.
type liveCluster struct {
	nodes   []*node.Node
	clients []*clientsdk.Client
	ix      *clientsdk.Index
	fol     *clientsdk.Follower
	names   []string
}

func startLive(cfg config) (*liveCluster, error) {
	lc := &liveCluster{}
	log := slog.New(slog.DiscardHandler)
	mb := max(int64(cfg.Capacity)*int64(cfg.BlockBytes)>>20, 1)
	for i := 0; i < cfg.Nodes; i++ {
		nc := node.Defaults()
		nc.CPUCapacityMB = mb
		nc.Writeback = false
		nc.Disk.CapacityMB = 0
		nc.Listen = node.ListenConfig{Native: "127.0.0.1:0"}
		nc.Cluster = node.ClusterConfig{Name: "node-" + strconv.Itoa(i), Bind: "127.0.0.1:0", Peer: "127.0.0.1:0", Preset: "local"}
		if i > 0 {
			nc.Cluster.Join = []string{lc.nodes[0].Cluster().GossipAddr()}
		}
		n, err := node.New(nc, log)
		if err != nil {
			lc.close()
			return nil, fmt.Errorf("scheduler: node %d: %w", i, err)
		}
		n.Start()
		lc.nodes = append(lc.nodes, n)
		lc.names = append(lc.names, nc.Cluster.Name)
		c, err := clientsdk.New(clientsdk.WithNodes(n.Addrs().Native))
		if err != nil {
			lc.close()
			return nil, err
		}
		lc.clients = append(lc.clients, c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range lc.nodes {
		for len(n.Cluster().Members()) < cfg.Nodes {
			if time.Now().After(deadline) {
				lc.close()
				return nil, fmt.Errorf("scheduler: cluster did not converge")
			}
			time.Sleep(10 * time.Millisecond) // polling a condition
		}
	}
	sc := clientsdk.DefaultScoreConfig()
	// The unbounded load term the figures in docs/clientsdk.md were
	// measured with.
	sc.LoadWeight, sc.LoadShare = float64(cfg.BlockSize)*2, 0
	lc.ix = clientsdk.NewIndex(sc)
	lc.fol = clientsdk.NewFollower(lc.ix, lc.clients[0],
		clientsdk.ClusterMembers(lc.nodes[0].Cluster().MemberInfos))
	return lc, nil
}

func (lc *liveCluster) close() {
	for _, c := range lc.clients {
		_ = c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := len(lc.nodes) - 1; i >= 0; i-- {
		_ = lc.nodes[i].Shutdown(ctx)
	}
}

// chunkIDs names a request's blocks as KV chunks of model "trace".
func chunkIDs(q request) ([]artifact.ID, error) {
	ids := make([]artifact.ID, len(q.HashIDs))
	for i, h := range q.HashIDs {
		id, err := artifact.KVKey{Model: "trace", PrefixHash: h, Layers: artifact.AllLayers}.ID()
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

// liveResult adds what a storage plane changes: a block not on the chosen
// node may still come from another node's tiers (a remote hit).
type liveResult struct {
	result
	ClusterHits int // leading blocks found anywhere in the cluster
}

// replayLive serves each request on the node the policy picks: the worker
// reads the cached leading blocks through its node (local or remote), then
// stores the rest there. The prefix-aware router scores from an index the
// follower refreshes before every request.
func replayLive(ctx context.Context, reqs []request, cfg config, policy string) (liveResult, error) {
	lc, err := startLive(cfg)
	if err != nil {
		return liveResult{}, err
	}
	defer lc.close()
	res := liveResult{result: result{Policy: policy}}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed))
	ends := make([][]float64, cfg.Nodes)
	counts := make([]int, cfg.Nodes)
	var p clientsdk.Prompt
	p.Levels = []clientsdk.Level{{BlockSize: cfg.BlockSize}}
	var scores []clientsdk.Score
	payload := make([]byte, cfg.BlockBytes)
	for i, q := range reqs {
		if len(q.HashIDs) == 0 {
			continue
		}
		ids, err := chunkIDs(q)
		if err != nil {
			return res, err
		}
		now := float64(q.TimestampMs) / 1000
		loads := make([]int, cfg.Nodes)
		for j := range ends {
			k := 0
			for _, e := range ends[j] {
				if e > now {
					ends[j][k] = e
					k++
				}
			}
			ends[j] = ends[j][:k]
			loads[j] = k
		}
		pick := 0
		switch policy {
		case "random":
			pick = rng.IntN(cfg.Nodes)
		case "round-robin":
			pick = i % cfg.Nodes
		case "least-loaded":
			for j := range loads {
				if loads[j] < loads[pick] {
					pick = j
				}
			}
		case "prefix-aware":
			if err := lc.fol.Sync(ctx); err != nil {
				return res, err
			}
			lv := &p.Levels[0]
			lv.IDs = lv.IDs[:0]
			for _, id := range ids {
				lv.IDs = append(lv.IDs, id.Hash)
			}
			lv.Hashes, lv.LastTokens = lv.IDs, cfg.BlockSize
			for j, name := range lc.names {
				lc.ix.SetLoad(name, float64(loads[j]))
			}
			scores = lc.ix.ScoreNodes(scores[:0], &p, lc.names)
			for j := range scores {
				if scores[j].Score > scores[pick].Score {
					pick = j
				}
			}
		}
		n, c := lc.nodes[pick], lc.clients[pick]
		local := 0
		for local < len(ids) {
			tier, ok, err := n.Engine().Locate(ctx, ids[local], actors.Chain())
			if err != nil {
				return res, err
			}
			if !ok || tier == cluster.RemoteTierName {
				break
			}
			local++
		}
		found, err := c.MExists(ctx, ids)
		if err != nil {
			return res, err
		}
		hit := 0
		for hit < len(found) && found[hit] {
			hit++
		}
		if hit > 0 { // the worker loads the cached prefix (remote blocks come over)
			if _, err := c.MGet(ctx, ids[:hit]); err != nil {
				return res, err
			}
		}
		if hit < len(ids) {
			pl := make([][]byte, len(ids)-hit)
			for j := range pl {
				pl[j] = payload
			}
			if _, err := c.MPut(ctx, ids[hit:], pl); err != nil {
				return res, err
			}
		}
		uncached := max(q.Input-local*cfg.BlockSize, 0)
		ends[pick] = append(ends[pick], now+float64(uncached)*cfg.PrefillS+float64(q.Output)*cfg.DecodeS)
		counts[pick]++
		res.Requests++
		res.Blocks += len(ids)
		res.Hits += local
		res.ClusterHits += hit
	}
	for _, n := range counts {
		res.MaxShare = max(res.MaxShare, float64(n)/float64(max(res.Requests, 1)))
	}
	return res, nil
}

func runLive(w io.Writer, reqs []request, cfg config) ([]liveResult, error) {
	fmt.Fprintf(w, "live: %d requests, %d clustered nodes, %d blocks of %d bytes per node\n", len(reqs), cfg.Nodes, cfg.Capacity, cfg.BlockBytes)
	fmt.Fprintf(w, "%-14s %9s %10s %12s %10s\n", "routing", "requests", "local hit", "cluster hit", "max share")
	var out []liveResult
	for _, pol := range policies {
		r, err := replayLive(context.Background(), reqs, cfg, pol)
		if err != nil {
			return out, fmt.Errorf("%s: %w", pol, err)
		}
		out = append(out, r)
		fmt.Fprintf(w, "%-14s %9d %10.4f %12.4f %10.3f\n", r.Policy, r.Requests, r.HitRate(),
			float64(r.ClusterHits)/float64(max(r.Blocks, 1)), r.MaxShare)
	}
	return out, nil
}

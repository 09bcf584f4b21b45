package clientsdk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/cluster"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/tiertest"
)

// liveNode is one node of an in-process cluster built from cluster/ and
// actors/ (what node/ assembles), with memory and CXL test tiers.
type liveNode struct {
	name     string
	cn       *cluster.Node
	eng      *actors.Engine
	mem, cxl *tiertest.Tier
}

func startLiveCluster(t *testing.T, k int, mods ...func(*cluster.Config)) []*liveNode {
	t.Helper()
	mn := cluster.NewMemNetwork(1)
	var nodes []*liveNode
	for i := 0; i < k; i++ {
		name := fmt.Sprintf("n%d", i+1)
		cfg := cluster.DefaultLocalConfig(name)
		cfg.Transport = mn.NewTransport(name)
		cfg.PeerAddr = "127.0.0.1:0"
		cfg.ProbeInterval = 50 * time.Millisecond
		cfg.ProbeTimeout = 25 * time.Millisecond
		cfg.GossipInterval = 20 * time.Millisecond
		cfg.LeaveTimeout = 100 * time.Millisecond
		cfg.MetaInterval = 30 * time.Millisecond
		cfg.Epoch = 1
		if i > 0 {
			cfg.Join = []string{nodes[0].cn.GossipAddr()}
		}
		for _, m := range mods {
			m(&cfg)
		}
		cn, err := cluster.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		mem := tiertest.New("mem", 64<<20)
		cxl := tiertest.New("cxl", 64<<20).WithKind(tiers.KindCXL)
		chain, err := cn.Tiers([]tiers.Tier{mem, cxl})
		if err != nil {
			t.Fatal(err)
		}
		wt := actors.DefaultLinkConfig()
		wt.Policy = actors.WriteThrough
		eng, err := actors.NewEngine(actors.Config{Tiers: chain, Links: []actors.LinkConfig{wt, cluster.RemoteLink()}, RequestTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := cn.Start(eng); err != nil {
			_ = eng.Close()
			t.Fatal(err)
		}
		mn.RegisterPeer(name, cn.PeerAddr())
		ln := &liveNode{name: name, cn: cn, eng: eng, mem: mem, cxl: cxl}
		t.Cleanup(func() { _ = ln.cn.Close(); _ = ln.eng.Close() })
		nodes = append(nodes, ln)
	}
	waitUntil(t, "full membership", func() bool {
		for _, n := range nodes {
			if len(n.cn.Members()) != k {
				return false
			}
		}
		return true
	})
	return nodes
}

// waitUntil polls cond until it holds (a condition, not a duration, is
// what the test waits for; the deadline only turns a hang into a failure).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func storeBlocks(t *testing.T, n *liveNode, h *Hasher, lv Level, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		id, err := h.ChunkID(lv.Hashes[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := n.eng.Store(context.Background(), id, []byte("kv"), actors.StoreOptions{Access: actors.Chain()}); err != nil {
			t.Fatal(err)
		}
	}
}

// PrefixLookup and ScoreNodes against a live 3-node cluster: the follower
// learns each node's entries through OP_PEER_DIR_SYNC and answers locally;
// it follows a node leaving.
func TestPrefixLookupLiveCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	nodes := startLiveCluster(t, 3)
	h, _ := NewHasher(HashConfig{Model: "llama-3-8b", BlockSizes: []int{16}})
	var a, b Prompt
	_ = h.Hash(&a, seq(160)) // 10 blocks
	bt := seq(160)
	bt[0] = 99999 // a different prompt from its first block on
	_ = h.Hash(&b, bt)
	storeBlocks(t, nodes[0], h, a.Levels[0], 0, 6) // n1: a's first 6 blocks
	storeBlocks(t, nodes[1], h, a.Levels[0], 6, 8) // n2: a's blocks 6-7
	storeBlocks(t, nodes[2], h, b.Levels[0], 0, 4) // n3: b's first 4 blocks

	ix := NewIndex(ScoreConfig{})
	c := newClient(t, WithIndex(ix))
	f := NewFollower(ix, c, ClusterMembers(nodes[0].cn.MemberInfos))
	ctx := context.Background()
	lookup := func(p *Prompt) map[string]NodePrefix {
		out := map[string]NodePrefix{}
		for _, x := range ix.PrefixLookup(nil, p) {
			out[x.Node] = x
		}
		return out
	}
	waitUntil(t, "the follower to see every node's entries", func() bool {
		if err := f.Sync(ctx); err != nil {
			t.Logf("sync: %v", err)
			return false
		}
		pa, pb := lookup(&a), lookup(&b)
		return pa["n1"].Blocks == 6 && pb["n3"].Blocks == 4
	})
	pa := lookup(&a)
	if pa["n1"].Tier != TierCPU || pa["n2"].Blocks != 0 || pa["n3"].Blocks != 0 {
		t.Fatalf("prompt a: %+v", pa)
	}
	sc := ix.ScoreNodes(nil, &a, []string{"n1", "n2", "n3"})
	if sc[0].CachedTokens != 128 || sc[0].LocalTokens != 96 || sc[1].LocalTokens != 32 || sc[2].LocalTokens != 0 {
		t.Fatalf("scores: %+v", sc)
	}
	if !(sc[0].Score > sc[1].Score && sc[1].Score > sc[2].Score) {
		t.Fatalf("scores out of order: %+v", sc)
	}

	// n3 dies while the membership still lists it (a static list here:
	// gossip takes seconds to notice): the next Sync cannot reach it and
	// marks it down, and the next ScoreNodes and PrefixLookup leave it out.
	ix2 := NewIndex(ScoreConfig{})
	static := membersOf(nodes[0].cn.MemberInfos())
	f2 := NewFollower(ix2, c, StaticMembers(static...))
	if err := f2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := names(ix2.ScoreNodes(nil, &b, nil)); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Fatalf("before: %v", got)
	}
	_ = nodes[2].cn.Close()
	if err := f2.Sync(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("sync with n3 dead: %v, want ErrUnavailable", err)
	}
	if got := names(ix2.ScoreNodes(nil, &b, nil)); !slices.Equal(got, []string{"n1", "n2"}) {
		t.Fatalf("n3 dead, ScoreNodes lists %v", got)
	}
	for _, x := range ix2.PrefixLookup(nil, &b) {
		if x.Node == "n3" {
			t.Fatal("PrefixLookup lists the dead n3")
		}
	}

	// n3 left: once the others see it gone, its entries leave the index.
	waitUntil(t, "n3 gone from n1's view", func() bool { return len(nodes[0].cn.Members()) == 2 })
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if pb := lookup(&b); pb["n3"].Blocks != 0 {
		t.Fatalf("n3's blocks still indexed after it left: %+v", pb)
	}
	if len(ix.Members()) != 2 {
		t.Fatalf("members %v", ix.Members())
	}
}

// The directory's tier-medium bytes, which the SDK spells out so as not to
// link tiers/, are tiers.Kind's values.
func TestTierKindsMatchTiers(t *testing.T) {
	for k, want := range map[tiers.Kind]Tier{tiers.KindMemory: TierCPU, tiers.KindCXL: TierCXL, tiers.KindDisk: TierDisk, tiers.KindRemote: TierRemote, 0: TierNone, 99: TierNone} {
		if got := TierOfKind(uint8(k)); got != want {
			t.Errorf("TierOfKind(%v) = %v, want %v", k, got, want)
		}
	}
}

// Prefetch against the real peer server: the client presents itself with
// OP_PEER_HELLO and the owner promotes a CXL-resident chunk into memory.
func TestPrefetchLiveCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 2-node cluster")
	}
	nodes := startLiveCluster(t, 2)
	ctx := context.Background()
	id, _ := artifact.ParamKey{Model: "m", Name: "layers.0.w", Chunk: 0}.ID()
	if err := nodes[1].eng.Store(ctx, id, []byte("weights"), actors.StoreOptions{Access: actors.Exact("cxl")}); err != nil {
		t.Fatal(err)
	}
	if nodes[1].mem.Contains(id) {
		t.Fatal("setup: chunk already in memory")
	}
	ix := NewIndex(ScoreConfig{})
	// These nodes run no native port: give them addresses that are never
	// dialled (prefetch goes to the owner's peer port).
	c := newClient(t, WithIndex(ix), WithRetries(0, 0, 0))
	src := ClusterMembers(nodes[0].cn.MemberInfos)
	f := NewFollower(ix, c, func(ctx context.Context) ([]Member, error) {
		ms, err := src(ctx)
		for i := range ms {
			ms[i].Addr = "native-of-" + ms[i].Name + ":1"
		}
		return ms, err
	})
	waitUntil(t, "the chunk's owner in the index", func() bool {
		if err := f.Sync(ctx); err != nil {
			return false
		}
		o, _, ok := ix.Owner(id.Hash)
		return ok && o == nodes[1].name
	})
	n, err := c.ParamStore("m").PrefetchChunks(ctx, ParamRef{Name: "layers.0.w", Chunk: 0})
	if err != nil || n != 1 {
		t.Fatalf("prefetch = %d, %v", n, err)
	}
	waitUntil(t, "the chunk promoted into memory", func() bool { return nodes[1].mem.Contains(id) })
}

package clientsdk

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/cluster"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/tiers"
)

// The Follower pays for what changed, not for what the nodes hold: a first
// round brings each node's whole holding set, a round after 500 changes
// only those; a node whose changes outran its feed's log is resynced alone.
// The figures (bytes per node per round, against the whole-snapshot
// OP_PEER_DIR_SYNC the Follower used to pull every round) are logged for
// docs/BENCHMARKS.md: go test ./clientsdk -run TestFollowerFeedBytes -v
func TestFollowerFeedBytesPerRound(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 2-node cluster")
	}
	const logLen = 1_000
	entries := 50_000
	if raceOn {
		entries = 5_000 // the race detector makes each Observe ~20x slower
	}
	nodes := startLiveCluster(t, 2, func(c *cluster.Config) { c.FeedLogLen = logLen })
	rng := rand.New(rand.NewPCG(13, 13))
	var held []uint64
	observe := func(n *liveNode, kind cluster.EventKind, h uint64) {
		n.cn.Observe(cluster.Event{Kind: kind, ID: artifact.ID{Namespace: artifact.NamespaceKV, Hash: h}, Tier: tiers.KindCXL})
	}
	for i := 0; i < entries; i++ {
		h := rng.Uint64()
		held = append(held, h)
		observe(nodes[0], cluster.EventStored, h)
	}
	ix := NewIndex(ScoreConfig{})
	c := newClient(t, WithIndex(ix))
	// A fixed member list: what is tested is the feed, not how gossip on a
	// loaded machine sees the two nodes.
	f := NewFollower(ix, c, StaticMembers(peersOf(nodes)...))
	// A bound on every round: a hang is a failure, not a test timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	first := f.Stats()
	if first.Resyncs != 2 || ix.Len() != entries {
		t.Fatalf("first round: %+v, %d indexed", first, ix.Len())
	}
	// What the Follower pulled every round before the feed: n1's whole
	// directory snapshot.
	key := peerPrefix + nodes[0].cn.PeerAddr()
	cn, err := c.pool.get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := cn.roundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_PEER_DIR_SYNC})
	c.pool.put(key, cn)
	if err != nil {
		t.Fatal(err)
	}
	// 500 changes on n1: 250 new blocks, 250 evicted.
	for i := 0; i < 250; i++ {
		h := rng.Uint64()
		observe(nodes[0], cluster.EventStored, h)
		held = append(held, h)
		observe(nodes[0], cluster.EventEvicted, held[i])
	}
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	second := f.Stats()
	delta := second.Bytes - first.Bytes
	if second.Resyncs != first.Resyncs || second.Changes-first.Changes != 500 || delta > 500*10+64 { // bytes follow the changes (<= 10 B each), not the holdings
		t.Fatalf("a round after 500 changes: %d bytes (first round %d), %+v", delta, first.Bytes, second)
	}
	if _, _, ok := ix.Owner(held[0]); ok {
		t.Fatal("an evicted block is still indexed")
	}
	if o, _, ok := ix.Owner(held[len(held)-1]); !ok || o != "n1" {
		t.Fatal("a new block is not indexed")
	}
	t.Logf("n1 holding %d blocks: first round %d B (feed resync), round after 500 changes %d B, whole directory snapshot %d B per round before; x16 nodes: %.1f MB vs %.3f MB per round",
		entries, first.Bytes, delta, len(snap), 16*float64(len(snap))/1e6, 16*float64(delta)/1e6)
	// n2 changes more than its log keeps: it alone is resynced.
	for i := 0; i < logLen+10; i++ {
		observe(nodes[1], cluster.EventStored, rng.Uint64())
	}
	observe(nodes[0], cluster.EventStored, rng.Uint64())
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	third := f.Stats()
	if third.Resyncs != second.Resyncs+1 || ix.Len() != entries+1+logLen+10 {
		t.Fatalf("after n2 outran its log: %+v, %d indexed", third, ix.Len())
	}
	if s := nodes[0].cn.Stats().Peer; s.Resyncs != 1 {
		t.Fatalf("n1 resynced %d times, want once (the first round)", s.Resyncs)
	}
}

// peersOf lists the nodes by their peer addresses, as a fixed member list
// that does not depend on gossip.
func peersOf(nodes []*liveNode) []Member {
	var ms []Member
	for _, n := range nodes {
		ms = append(ms, Member{Name: n.name, PeerAddr: n.cn.PeerAddr()})
	}
	return ms
}

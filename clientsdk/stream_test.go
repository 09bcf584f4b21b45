package clientsdk

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/cluster"
	"github.com/stratacache/stratacache/tiers"
)

// waitWithin polls cond until it holds or within passes (generous: CI runs
// this under -race on a loaded machine; the condition is what is tested).
func waitWithin(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", within, what, why)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// viewMatches reports whether the follower's view of every node equals
// what the node's feed says it holds (the checker: same hashes, same
// medium), and whether the index lists each held hash with a holder.
func viewMatches(f *Follower, nodes []*liveNode) (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range nodes {
		_, seq, held := n.cn.FeedHoldings()
		view := f.held[n.name]
		if p := f.pos[n.name]; p.seq != seq {
			return false, fmt.Sprintf("%s: follower at %d, node at %d", n.name, p.seq, seq)
		}
		if len(view) != len(held) {
			return false, fmt.Sprintf("%s: %d held, %d seen", n.name, len(held), len(view))
		}
		for h, k := range held {
			if v, ok := view[h]; !ok || v != k {
				return false, fmt.Sprintf("%s: %x kind %d, seen %d (%v)", n.name, h, k, v, ok)
			}
			if _, _, ok := f.ix.Owner(h); !ok {
				return false, fmt.Sprintf("%s: %x not indexed", n.name, h)
			}
		}
	}
	return true, ""
}

// Run streams every member's changes as they happen: after a seeded
// random load of stores and evictions on three nodes, the follower's view
// of each equals the node's holdings (and the index lists them) with no
// poll at all. A lost frame of one member (dropped by the follower) is a
// gap its next frame reveals, even an empty keep-alive: that member alone
// is resynced, the others' streams go on.
func TestFollowerStreamsMatchHoldings(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	nodes := startLiveCluster(t, 3, func(c *cluster.Config) { c.FeedKeepAlive = 100 * time.Millisecond })
	rng := rand.New(rand.NewPCG(17, 17))
	ix := NewIndex(ScoreConfig{})
	c := newClient(t, WithIndex(ix))
	f := NewFollower(ix, c, StaticMembers(peersOf(nodes)...))
	f.SetStreamIdle(time.Minute) // under -race and load: not what is tested
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	var errMu sync.Mutex
	var errs []error
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(ctx, 50*time.Millisecond, func(err error) {
			errMu.Lock()
			errs = append(errs, err)
			errMu.Unlock()
		})
	}()
	t.Cleanup(func() { cancel(); <-done })

	held := make([][]uint64, len(nodes))
	kinds := []tiers.Kind{tiers.KindMemory, tiers.KindCXL, tiers.KindDisk}
	load := func(ops int) {
		for i := 0; i < ops; i++ {
			j := rng.IntN(len(nodes))
			n := nodes[j]
			if len(held[j]) > 0 && rng.IntN(3) == 0 {
				k := rng.IntN(len(held[j]))
				n.cn.Observe(cluster.Event{Kind: cluster.EventEvicted, ID: artifact.ID{Namespace: artifact.NamespaceKV, Hash: held[j][k]}, Tier: tiers.KindCXL})
				held[j][k] = held[j][len(held[j])-1]
				held[j] = held[j][:len(held[j])-1]
				continue
			}
			h := rng.Uint64()
			held[j] = append(held[j], h)
			n.cn.Observe(cluster.Event{Kind: cluster.EventStored, ID: artifact.ID{Namespace: artifact.NamespaceKV, Hash: h}, Tier: kinds[rng.IntN(len(kinds))]})
		}
	}
	check := func(what string) {
		t.Helper()
		waitWithin(t, 2*time.Minute, what, func() (bool, string) { return viewMatches(f, nodes) })
	}
	for round := 0; round < 3; round++ {
		load(1000)
		check(fmt.Sprintf("round %d: the follower's view to equal every node's holdings", round))
	}
	st := f.Stats()
	if st.Polls != 0 || st.Streams < 3 || st.Gaps != 0 {
		t.Fatalf("after the load: %+v", st)
	}
	resyncs := func() []uint64 {
		var out []uint64
		for _, n := range nodes {
			out = append(out, n.cn.Stats().Peer.Resyncs)
		}
		return out
	}
	before := resyncs()

	// A lost frame of n2: the follower drops its next frame with changes.
	f.mu.Lock()
	f.testDrop = map[string]int{"n2": 1}
	f.mu.Unlock()
	load(600)
	check("the view to recover from n2's gap")
	after := resyncs()
	if st := f.Stats(); st.Gaps != 1 {
		t.Fatalf("gaps %d, want 1: %+v", st.Gaps, st)
	}
	for i, n := range nodes {
		want := before[i]
		if n.name == "n2" {
			want++
		}
		if after[i] != want {
			t.Fatalf("%s resynced %d times after the gap, want %d (before %v, after %v)", n.name, after[i]-before[i], want-before[i], before, after)
		}
	}
	errMu.Lock()
	defer errMu.Unlock()
	t.Logf("%+v; stream errors (reconnects) %d: %v", f.Stats(), len(errs), errs)
}

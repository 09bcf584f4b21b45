package cluster

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/tiertest"
)

// tnode is one node of an in-process test cluster.
type tnode struct {
	name string
	n    *Node
	eng  *actors.Engine
	mem  *tiertest.Tier
	cxl  *tiertest.Tier
}

type clusterOpts struct {
	memBytes, cxlBytes int64
	cfg                func(i int, c *Config)
	noJoin             bool
	promote            bool
}

// fastConfig shortens failure detection and gossip so that tests converge
// in well under a second (the conditions, not the timings, are asserted).
func fastConfig(name string, mn *MemNetwork) Config {
	c := DefaultLocalConfig(name)
	c.Transport = mn.NewTransport(name)
	c.Dialer = mn.PeerDialer(name, &net.Dialer{})
	// Failure detection fast enough for the kill tests, slow enough that
	// a member starved of CPU by -race on two loaded cores is not declared
	// dead (25 ms probe timeouts made members flap, so "full membership" never held
	// and fetches went to members thought dead).
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionMult = 3
	c.GossipInterval = 20 * time.Millisecond
	c.PushPullInterval = 2 * time.Second
	// Joins and push/pulls of 16 nodes under -race on two loaded cores
	// outlast memberlist's local 1 s.
	c.StreamTimeout = 10 * time.Second
	c.MetaInterval = 30 * time.Millisecond
	// A bound, not what the tests check: a 3 MiB fetch under -race on a
	// loaded machine outlasted 500 ms and came back as a miss. Tests of the
	// timeout itself set their own.
	c.FetchTimeout = 10 * time.Second
	c.AntiEntropyInterval = 200 * time.Millisecond
	c.Epoch = 1
	c.ReconnectInterval = 100 * time.Millisecond
	c.LeaveTimeout = 100 * time.Millisecond
	return c
}

// startNode builds a node with a memory and a CXL fake tier under an engine.
func startNode(t testing.TB, mn *MemNetwork, name string, o clusterOpts, i int, join []string) *tnode {
	t.Helper()
	cfg := fastConfig(name, mn)
	cfg.Join = join
	if o.cfg != nil {
		o.cfg(i, &cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mem := tiertest.New("mem", o.memBytes)
	cxl := tiertest.New("cxl", o.cxlBytes).WithKind(tiers.KindCXL)
	chain, err := n.Tiers([]tiers.Tier{mem, cxl})
	if err != nil {
		t.Fatal(err)
	}
	wt := actors.DefaultLinkConfig()
	wt.Policy = actors.WriteThrough
	eng, err := actors.NewEngine(actors.Config{Tiers: chain, Links: []actors.LinkConfig{wt, RemoteLink()}, RequestTimeout: 5 * time.Second, PromoteOnHit: o.promote})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(eng); err != nil {
		_ = eng.Close()
		t.Fatal(err)
	}
	mn.RegisterPeer(name, n.PeerAddr())
	tn := &tnode{name: name, n: n, eng: eng, mem: mem, cxl: cxl}
	t.Cleanup(func() {
		_ = n.Close()
		_ = eng.Close()
	})
	return tn
}

// startCluster starts k nodes, all joined to the first, and waits until
// every node sees every other.
func startCluster(t testing.TB, k int, o clusterOpts) (*MemNetwork, []*tnode) {
	t.Helper()
	if o.memBytes == 0 {
		o.memBytes = 64 << 20
	}
	if o.cxlBytes == 0 {
		o.cxlBytes = 64 << 20
	}
	mn := NewMemNetwork(1)
	var nodes []*tnode
	for i := 0; i < k; i++ {
		var join []string
		if i > 0 && !o.noJoin {
			join = []string{nodes[0].n.GossipAddr()}
		}
		nodes = append(nodes, startNode(t, mn, fmt.Sprintf("n%d", i+1), o, i, join))
	}
	if !o.noJoin {
		waitFor(t, 90*time.Second, "full membership", func() bool {
			for _, tn := range nodes {
				if len(tn.n.Members()) != k {
					return false
				}
			}
			return true
		})
	}
	return mn, nodes
}

// waitFor polls cond until it holds or the deadline passes. The deadline
// is a safety net, not an assertion on speed, so it is never shorter than
// minWait: under -race on two cores shared with other work, a 5 s wait for
// a directory to converge timed out while the process got a fifth of a core.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	waitForWhy(t, within, what, func() (bool, string) { return cond(), "" })
}

// waitForWhy is waitFor for a condition that can say what it still lacks;
// the last reason goes into the failure.
func waitForWhy(t testing.TB, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	if within < minWait {
		within = minWait
	}
	deadline := time.Now().Add(within)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if why != "" {
				what += ": " + why
			}
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		<-tick.C
	}
}

// minWait is the shortest safety net waitFor allows.
const minWait = 60 * time.Second

func kvID(key string) artifact.ID { return artifact.MustID(artifact.NamespaceKV, key) }

func payloadOf(seed, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed*2654435761 + 1)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func store(t testing.TB, tn *tnode, id artifact.ID, p []byte) {
	t.Helper()
	if err := tn.eng.Store(context.Background(), id, p, actors.StoreOptions{}); err != nil {
		t.Fatalf("store on %s: %v", tn.name, err)
	}
}

// ownerSeen reports whether a lookup from every node in nodes lists owner
// among id's holders.
func ownerSeen(nodes []*tnode, id artifact.ID, owner string) bool {
	for _, tn := range nodes {
		found := false
		for _, o := range tn.n.LookupHolders(context.Background(), id) {
			found = found || o.Node == owner
		}
		if !found {
			return false
		}
	}
	return true
}

// nobodyListed reports whether a lookup from every node in nodes lists no
// holder of id.
func nobodyListed(nodes []*tnode, id artifact.ID) bool {
	for _, tn := range nodes {
		if len(tn.n.LookupHolders(context.Background(), id)) != 0 {
			return false
		}
	}
	return true
}

func newFake(name string, capacity int64) *tiertest.Tier { return tiertest.New(name, capacity) }

// nopStore is a LocalStore for nodes that are never asked to store.
type nopStore struct{}

func (nopStore) Store(context.Context, artifact.ID, []byte, actors.StoreOptions) error {
	return tiers.ErrNoSpace
}
func (nopStore) Delete(context.Context, artifact.ID) (bool, error) { return false, nil }

func storeIn(t testing.TB, tn *tnode, tier string, id artifact.ID, p []byte) {
	t.Helper()
	if err := tn.eng.Store(context.Background(), id, p, actors.StoreOptions{Access: actors.Exact(tier)}); err != nil {
		t.Fatalf("store in %s on %s: %v", tier, tn.name, err)
	}
}

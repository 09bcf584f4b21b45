package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

func TestDemoteIntoPeerWithMostFreePool(t *testing.T) {
	// Timeouts that a loaded machine under -race does not reach: what is
	// tested is where victims go.
	_, nodes := startCluster(t, 4, clusterOpts{memBytes: 1 << 20, cfg: func(_ int, c *Config) {
		c.FetchTimeout = 20 * time.Second
		c.DemoteTimeout = 60 * time.Second
	}})
	// Every node has a 64 MiB pool: fill n2's and n4's so that n3 has the
	// most free bytes.
	storeIn(t, nodes[1], "cxl", kvID("fill-n2"), payloadOf(1, 40<<20))
	storeIn(t, nodes[3], "cxl", kvID("fill-n4"), payloadOf(2, 20<<20))
	waitFor(t, 5*time.Second, "free bytes gossiped", func() bool {
		free := map[string]int64{}
		for _, m := range nodes[0].n.Members() {
			free[m.Name] = m.Meta.PoolFree()
		}
		return free["n2"] == 24<<20 && free["n4"] == 44<<20 && free["n3"] == 64<<20
	})
	// n1's memory tier holds 1 MiB and its CXL pool 64 MiB: fill the pool
	// until it evicts; its victims must land on n3.
	var ids []string
	for i := 0; i < 70; i++ {
		k := fmt.Sprintf("spill-%d", i)
		ids = append(ids, k)
		store(t, nodes[0], kvID(k), payloadOf(100+i, 1<<20))
	}
	// Demotions leave through a queue, off the writers' path: wait for it.
	waitFor(t, 10*time.Second, "the demote queue drained", func() bool {
		s := nodes[0].n.Stats().Remote
		return s.DemotesQueued == s.DemotesSettled
	})
	s := nodes[0].n.Stats().Remote
	if s.Demotes == 0 {
		t.Fatalf("no demotions: %+v", s)
	}
	demoted := 0
	for i, k := range ids {
		id := kvID(k)
		if nodes[0].cxl.Contains(id) || nodes[0].mem.Contains(id) {
			continue
		}
		demoted++
		waitFor(t, 10*time.Second, k+" listed on n3 (most free)", func() bool { return ownerSeen(nodes[:1], id, "n3") })
		if !nodes[2].cxl.Contains(id) {
			t.Fatalf("%s is not in n3's pool", k)
		}
		// Retried until the deadline: under -race on loaded cores the fast
		// failure detector can drop n3 from the members for a moment.
		waitFor(t, 60*time.Second, "read back "+k, func() bool {
			got, err := nodes[0].eng.Load(context.Background(), nil, id, actors.Chain())
			return err == nil && bytes.Equal(got, payloadOf(100+i, 1<<20))
		})
	}
	if demoted == 0 || uint64(demoted) != s.Demotes {
		t.Fatalf("%d artifacts left n1, %d demotes counted", demoted, s.Demotes)
	}
	waitFor(t, 5*time.Second, "n3 announces what it took", func() bool {
		k := 0
		for _, tn := range nodes {
			k += tn.n.Directory().CountOwnedBy("n3")
		}
		return k >= demoted*3 // every entry on its R = 3 replicas
	})
}

func TestDemoteWithNoRoomAnywhereIsNoSpace(t *testing.T) {
	_, nodes := startCluster(t, 2, clusterOpts{memBytes: 1 << 20, cxlBytes: 2 << 20})
	storeIn(t, nodes[1], "cxl", kvID("fill"), payloadOf(1, 2<<20))
	waitFor(t, 5*time.Second, "n2 full", func() bool {
		for _, m := range nodes[0].n.Members() {
			if m.Name == "n2" {
				return m.Meta.PoolFree() == 0
			}
		}
		return false
	})
	err := nodes[0].n.RemoteTier().Put(context.Background(), kvID("victim"), payloadOf(2, 1<<20), tiers.PutOptions{})
	if !errors.Is(err, tiers.ErrNoSpace) {
		t.Fatalf("put with no room: %v", err)
	}
}

func TestPeerTimeoutIsAMiss(t *testing.T) {
	_, nodes := startCluster(t, 2, clusterOpts{cfg: func(_ int, c *Config) { c.FetchTimeout = 100 * time.Millisecond }})
	id := kvID("slow")
	store(t, nodes[1], id, payloadOf(1, 4096))
	waitFor(t, 5*time.Second, "owner gossiped", func() bool { return ownerSeen(nodes[:1], id, "n2") })
	release := make(chan struct{})
	defer close(release)
	hook := func() { <-release }
	nodes[1].n.testFetchHook.Store(&hook)
	_, err := nodes[0].eng.Load(context.Background(), nil, id, actors.Chain())
	if !errors.Is(err, tiers.ErrNotFound) {
		t.Fatalf("a peer that never answers: %v, want a miss", err)
	}
	if s := nodes[0].n.Stats().Remote; s.PeerFailures == 0 || s.Misses != 1 {
		t.Fatalf("remote stats %+v", s)
	}
}

func TestWrongGossipKeyCannotJoin(t *testing.T) {
	k1 := bytes.Repeat([]byte{1}, 32)
	k2 := bytes.Repeat([]byte{2}, 32)
	mn, nodes := startCluster(t, 2, clusterOpts{cfg: func(_ int, c *Config) { c.GossipKeys = [][]byte{k1} }})
	cfg := fastConfig("intruder", mn)
	cfg.GossipKeys = [][]byte{k2}
	cfg.Join = []string{nodes[0].n.GossipAddr()}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Tiers([]tiers.Tier{newFake("mem", 1<<20)}); err != nil {
		t.Fatal(err)
	}
	err = n.Start(nopStore{})
	if err == nil {
		_ = n.Close()
		t.Fatal("a node with the wrong gossip key joined")
	}
	t.Logf("refused: %v", err)
	for _, tn := range nodes {
		if len(tn.n.Members()) != 2 {
			t.Fatalf("%s sees %d members", tn.name, len(tn.n.Members()))
		}
	}
	// Rotation, step 1: a node that encrypts with the old key and also
	// accepts the new one joins (docs/cluster.md has the whole procedure).
	cfg2 := fastConfig("rotated", mn)
	cfg2.GossipKeys = [][]byte{k1, k2}
	cfg2.Join = []string{nodes[0].n.GossipAddr()}
	n2, err := New(cfg2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n2.Tiers([]tiers.Tier{newFake("mem", 1<<20)}); err != nil {
		t.Fatal(err)
	}
	if err := n2.Start(nopStore{}); err != nil {
		t.Fatalf("node with the new key first and the old one second: %v", err)
	}
	defer n2.Close()
	if kr := n2.Keyring(); kr == nil || len(kr.GetKeys()) != 2 {
		t.Fatal("keyring not exposed for rotation")
	}
}

func TestPeerWithoutTokenCannotFetch(t *testing.T) {
	_, nodes := startCluster(t, 2, clusterOpts{cfg: func(_ int, c *Config) { c.PeerToken = []byte("s3cret") }})
	id := kvID("guarded")
	store(t, nodes[1], id, payloadOf(1, 4096))
	waitFor(t, 5*time.Second, "owner gossiped", func() bool { return ownerSeen(nodes[:1], id, "n2") })
	if _, err := nodes[0].eng.Load(context.Background(), nil, id, actors.Chain()); err != nil {
		t.Fatalf("fetch with the token: %v", err)
	}
	bad := &Config{NodeName: "mallory", Epoch: 1, PeerToken: []byte("guess"), Dialer: &net.Dialer{}, MaxIdleConns: 1, MaxArtifactBytes: 1 << 20}
	p := newPeerPool(bad, nil)
	defer p.close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _, _, err := p.fetch(ctx, nodes[1].n.PeerAddr(), id, nil)
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("fetch with a wrong token: %v", err)
	}
	if nodes[1].n.Stats().Peer.Refused == 0 {
		t.Fatal("refusal not counted")
	}
}

func TestKillOneOfFiveUnderLoad(t *testing.T) {
	mn, nodes := startCluster(t, 5, clusterOpts{})
	// Every node owns some artifacts.
	for i := 0; i < 40; i++ {
		store(t, nodes[i%5], kvID(fmt.Sprintf("k-%d", i)), payloadOf(i, 16<<10))
	}
	waitFor(t, 5*time.Second, "directory converged", func() bool {
		for i := 0; i < 40; i++ {
			if !ownerSeen(nodes, kvID(fmt.Sprintf("k-%d", i)), nodes[i%5].name) {
				return false
			}
		}
		return true
	})
	victim := nodes[4]
	survivors := nodes[:4]
	var stop atomic.Bool
	var errCount, reads, hits atomic.Int64
	var wg sync.WaitGroup
	// A failed wait below ends the test early: stop the load before the
	// nodes' cleanups close the engines under it (cleanups run last-first).
	t.Cleanup(func() { stop.Store(true); wg.Wait() })
	for w, tn := range survivors {
		wg.Add(1)
		go func(w int, tn *tnode) {
			defer wg.Done()
			for j := 0; !stop.Load(); j++ {
				id := kvID(fmt.Sprintf("k-%d", j%40))
				_, err := tn.eng.Load(context.Background(), nil, id, actors.Chain())
				reads.Add(1)
				switch {
				case err == nil:
					hits.Add(1)
				case errors.Is(err, tiers.ErrNotFound):
				default:
					errCount.Add(1)
					t.Errorf("%s: client-visible error: %v", tn.name, err)
				}
				if j%7 == 0 {
					if err := tn.eng.Store(context.Background(), kvID(fmt.Sprintf("w-%d-%d", w, j)), payloadOf(j, 4096), actors.StoreOptions{}); err != nil {
						errCount.Add(1)
						t.Errorf("%s: store error: %v", tn.name, err)
					}
				}
			}
		}(w, tn)
	}
	waitFor(t, 5*time.Second, "load running", func() bool { return reads.Load() > 200 })
	mn.Kill(victim.name)
	_ = victim.n.shutdown(false)
	waitFor(t, 15*time.Second, "survivors drop the dead node's entries", func() bool {
		for _, tn := range survivors {
			if tn.n.Directory().CountOwnedBy(victim.name) != 0 || len(tn.n.Members()) != 4 {
				return false
			}
		}
		return true
	})
	before := reads.Load()
	waitFor(t, 5*time.Second, "load continues after the death", func() bool { return reads.Load() > before+200 })
	stop.Store(true)
	wg.Wait()
	if errCount.Load() != 0 {
		t.Fatalf("%d client-visible errors", errCount.Load())
	}
	t.Logf("%d reads, %d hits, 0 errors", reads.Load(), hits.Load())
}

func TestPartitionHealsAndDirectoriesConverge(t *testing.T) {
	mn, nodes := startCluster(t, 3, clusterOpts{cfg: func(_ int, c *Config) { c.PushPullInterval = 200 * time.Millisecond }})
	id := kvID("island")
	store(t, nodes[2], id, payloadOf(1, 4096))
	waitFor(t, 5*time.Second, "owner gossiped", func() bool { return ownerSeen(nodes, id, "n3") })
	mn.Partition([]string{"n1", "n2"}, []string{"n3"})
	waitFor(t, 15*time.Second, "the majority drops n3", func() bool {
		for _, tn := range nodes[:2] {
			if len(tn.n.Members()) != 2 {
				return false
			}
			if _, ok := tn.n.Directory().Lookup(id.Hash); ok {
				return false
			}
		}
		return true
	})
	// During the partition a read on n1 is a miss, not an error.
	if _, err := nodes[0].eng.Load(context.Background(), nil, id, actors.Chain()); !errors.Is(err, tiers.ErrNotFound) {
		t.Fatalf("read across a partition: %v", err)
	}
	mn.Heal()
	waitFor(t, 30*time.Second, "membership and directory converge after the heal", func() bool {
		for _, tn := range nodes {
			if len(tn.n.Members()) != 3 {
				return false
			}
		}
		return ownerSeen(nodes, id, "n3")
	})
	got, err := nodes[0].eng.Load(context.Background(), nil, id, actors.Chain())
	if err != nil || !bytes.Equal(got, payloadOf(1, 4096)) {
		t.Fatalf("read after heal: %v", err)
	}
}

func TestOneWayBlockAndDropsStillConverge(t *testing.T) {
	mn, nodes := startCluster(t, 4, clusterOpts{cfg: func(_ int, c *Config) { c.PushPullInterval = 300 * time.Millisecond }})
	mn.SetDrop(0.2)
	mn.Block("n1", "n4") // n1's direct packets to n4 vanish; relays carry them
	for i := 0; i < 20; i++ {
		store(t, nodes[0], kvID(fmt.Sprintf("lossy-%d", i)), payloadOf(i, 4096))
	}
	// n1's records reach the replicas it can dial; n4 replicates what it
	// gets only once n1 can reach it: the holder pushes, nobody relays.
	reachable := func(k string) bool {
		return !slices.Contains(nodes[0].n.replicasOf(nil, kvID(k).Hash), "n4")
	}
	waitFor(t, 20*time.Second, "entries reach the replicas n1 can dial despite drops", func() bool {
		for i := 0; i < 20; i++ {
			k := fmt.Sprintf("lossy-%d", i)
			if reachable(k) && !ownerSeen(nodes, kvID(k), "n1") {
				return false
			}
		}
		return true
	})
	// Gossip now carries membership only: wait until the drops have hit
	// some of it (probes go on every ProbeInterval).
	waitFor(t, 20*time.Second, "a dropped packet", func() bool { return mn.Dropped() > 0 })
	mn.SetDrop(0)
	mn.Heal()
	waitFor(t, 20*time.Second, "after the heal, every entry is found from every node", func() bool {
		for i := 0; i < 20; i++ {
			if !ownerSeen(nodes, kvID(fmt.Sprintf("lossy-%d", i)), "n1") {
				return false
			}
		}
		return true
	})
}

func TestDelayedPeerStillServes(t *testing.T) {
	mn, nodes := startCluster(t, 2, clusterOpts{})
	id := kvID("far")
	store(t, nodes[1], id, payloadOf(5, 1<<20))
	waitFor(t, 5*time.Second, "owner gossiped", func() bool { return ownerSeen(nodes[:1], id, "n2") })
	mn.SetDelay(20 * time.Millisecond)
	defer mn.SetDelay(0)
	got, err := nodes[0].eng.Load(context.Background(), nil, id, actors.Chain())
	if err != nil || !bytes.Equal(got, payloadOf(5, 1<<20)) {
		t.Fatalf("delayed fetch: %v", err)
	}
}

// A crashed holder stops being listed by a lookup as soon as the asking
// node's membership has marked it dead, whatever the replica answering
// still believes. The replica's lag is made exact: after every survivor
// dropped n4, n2's directory is given n4 back as alive with records (what
// a replica whose memberlist has not marked n4 dead yet answers).
func TestLookupStopsListingACrashedHolderOnceDead(t *testing.T) {
	mn, nodes := startCluster(t, 4, clusterOpts{})
	victim, survivors := nodes[3], nodes[:3]
	var ids []artifact.ID
	for i := 0; i < 24; i++ {
		id := kvID(fmt.Sprintf("crashed-%d", i))
		victim.n.Observe(Event{Kind: EventStored, ID: id, Tier: tiers.KindCXL})
		ids = append(ids, id)
	}
	listsVictim := func(tn *tnode) (int, error) {
		out, err := tn.n.Lookup(context.Background(), ids)
		k := 0
		for _, hs := range out {
			for _, o := range hs {
				if o.Node == victim.name {
					k++
				}
			}
		}
		return k, err
	}
	waitForWhy(t, 30*time.Second, "every survivor's lookups list the victim", func() (bool, string) {
		for _, tn := range survivors {
			if k, err := listsVictim(tn); k != len(ids) || err != nil {
				return false, fmt.Sprintf("%s lists it for %d of %d (err %v)", tn.name, k, len(ids), err)
			}
		}
		return true, ""
	})
	epoch := victim.n.Epoch()
	mn.Kill(victim.name)
	_ = victim.n.shutdown(false)
	waitForWhy(t, 60*time.Second, "every survivor marks the victim dead", func() (bool, string) {
		for _, tn := range survivors {
			for _, m := range tn.n.Members() {
				if m.Name == victim.name {
					return false, tn.name + " still lists it as a member"
				}
			}
		}
		return true, ""
	})
	for _, tn := range survivors {
		if k, err := listsVictim(tn); k != 0 || err != nil {
			t.Fatalf("%s: once every survivor marked %s dead, its lookups still list it for %d of %d artifacts (err %v)", tn.name, victim.name, k, len(ids), err)
		}
	}
	// n2 answers as a replica that has not marked n4 dead yet: n1 and n3
	// (dead in their view) must not list it.
	lagging := survivors[1]
	lagging.n.dir.markNode(victim.name, epoch, true)
	var asked []artifact.ID
	for i, id := range ids {
		if reps := survivors[0].n.replicasOf(nil, id.Hash); reps[0] == lagging.name {
			lagging.n.dir.Put(victim.name, epoch, id.Hash, tiers.KindCXL, uint64(i+1))
			asked = append(asked, id)
		}
	}
	if len(asked) == 0 {
		t.Fatalf("none of %d ids has %s as its first replica", len(ids), lagging.name)
	}
	var buf [4]Owner
	if hs := lagging.n.dir.Holders(asked[0].Hash, buf[:0]); len(hs) != 1 || hs[0].Node != victim.name {
		t.Fatalf("the lagging replica's directory lists %+v, want %s", hs, victim.name)
	}
	for _, tn := range []*tnode{survivors[0], survivors[2]} {
		out, err := tn.n.Lookup(context.Background(), asked)
		if err != nil {
			t.Fatal(err)
		}
		for i, hs := range out {
			for _, o := range hs {
				if o.Node == victim.name {
					t.Fatalf("%s lists %s (dead in its membership) as a holder of %v: the lagging replica's answer passed through", tn.name, victim.name, asked[i])
				}
			}
		}
	}
}

package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/messages/frame"
	"github.com/stratacache/stratacache/tiers"
)

func TestLeaveAndRestartWithNewEpoch(t *testing.T) {
	mn, nodes := startCluster(t, 3, clusterOpts{})
	old := kvID("before-restart")
	store(t, nodes[2], old, payloadOf(1, 4096))
	waitFor(t, 5*time.Second, "owner gossiped", func() bool { return ownerSeen(nodes, old, "n3") })
	if err := nodes[2].n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := nodes[2].n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	waitFor(t, 5*time.Second, "survivors drop the leaver's entries", func() bool {
		for _, tn := range nodes[:2] {
			if tn.n.Directory().CountOwnedBy("n3") != 0 || len(tn.n.Members()) != 2 {
				return false
			}
		}
		return true
	})
	// n3 comes back as a new incarnation.
	back := startNode(t, mn, "n3", clusterOpts{memBytes: 64 << 20, cxlBytes: 64 << 20, cfg: func(_ int, c *Config) { c.Epoch = 2 }}, 2,
		[]string{nodes[0].n.GossipAddr()})
	all := []*tnode{nodes[0], nodes[1], back}
	fresh := kvID("after-restart")
	store(t, back, fresh, payloadOf(2, 4096))
	waitFor(t, 5*time.Second, "the new incarnation's entry spreads", func() bool { return ownerSeen(all, fresh, "n3") })
	// Right after n3's return the survivors' lookups may still be sent to a
	// replica whose handoff has not arrived (CI's race run: n2 listed
	// nobody just after ownerSeen held), so the exact answer is waited
	// for, and says what it last saw.
	waitForWhy(t, 5*time.Second, "the survivors list only the new incarnation", func() (bool, string) {
		for _, tn := range nodes[:2] {
			if hs := tn.n.LookupHolders(context.Background(), fresh); len(hs) != 1 || hs[0].Epoch != 2 {
				return false, fmt.Sprintf("%s lists %+v for the new entry", tn.name, hs)
			}
			if hs := tn.n.LookupHolders(context.Background(), old); len(hs) != 0 {
				return false, fmt.Sprintf("%s still lists the old incarnation's entry: %+v", tn.name, hs)
			}
		}
		return true, ""
	})
}

func TestConfigValidation(t *testing.T) {
	bad := DefaultLocalConfig("")
	bad.Preset = "wan"
	bad.GossipKeys = [][]byte{[]byte("short")}
	bad.FetchTimeout = -1
	_, err := New(bad)
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("New with a bad config: %v", err)
	}
	for _, want := range []string{"empty node name", "preset", "gossip key 0", "negative timeout"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	n, err := New(DefaultLocalConfig("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(nopStore{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("Start before Tiers: %v", err)
	}
	if _, err := n.Tiers(nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("Tiers(nil): %v", err)
	}
	chain, err := n.Tiers([]tiers.Tier{newFake("mem", 1<<20), newFake("cxl", 1<<20).WithKind(tiers.KindCXL)})
	if err != nil || len(chain) != 3 || chain[2].Name() != RemoteTierName || n.poolTier().Name() != "cxl" {
		t.Fatalf("Tiers: %v, %d tiers", err, len(chain))
	}
	if err := n.Close(); err != nil {
		t.Fatalf("Close of a node never started: %v", err)
	}
}

// FuzzPeerServer feeds arbitrary frames to the peer server after a valid
// hello: it must answer or hang up, never panic or hang.
func FuzzPeerServer(f *testing.F) {
	var hdr bytes.Buffer
	_, _ = frame.Write(&hdr, nil, &messages.FrameHeader{RequestId: 1, Op: messages.Op_OP_PEER_HELLO, NodeName: "fuzz"})
	hello := hdr.Bytes()
	seed := func(h *messages.FrameHeader, payload []byte) []byte {
		var b bytes.Buffer
		_, _ = frame.Write(&b, nil, h, payload)
		return b.Bytes()
	}
	id := messages.IDToProto(kvID("k"))
	f.Add(seed(&messages.FrameHeader{RequestId: 2, Op: messages.Op_OP_PEER_FETCH, Ids: []*messages.ArtifactID{id}}, nil))
	f.Add(seed(&messages.FrameHeader{RequestId: 2, Op: messages.Op_OP_PEER_DEMOTE, Ids: []*messages.ArtifactID{id}, Meta: &messages.Metadata{Length: 3}}, []byte("abc")))
	f.Add(seed(&messages.FrameHeader{RequestId: 2, Op: messages.Op_OP_PEER_DIR_SYNC}, nil))
	f.Add(seed(&messages.FrameHeader{RequestId: 2, Op: messages.Op_OP_PEER_PREFETCH, Ids: []*messages.ArtifactID{id, {}}}, nil))
	f.Add([]byte("garbage"))
	n, err := New(DefaultLocalConfig("fuzz-server"))
	if err != nil {
		f.Fatal(err)
	}
	if _, err := n.Tiers([]tiers.Tier{newFake("mem", 1<<20), newFake("cxl", 1<<20).WithKind(tiers.KindCXL)}); err != nil {
		f.Fatal(err)
	}
	n.store = nopStore{}
	f.Fuzz(func(t *testing.T, b []byte) {
		client, server := net.Pipe()
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			buf := make([]byte, 64<<10)
			for {
				if _, err := client.Read(buf); err != nil {
					return
				}
			}
		}()
		served := make(chan struct{})
		go func() {
			defer close(served)
			n.srv.serveConn(server)
			_ = server.Close()
		}()
		_ = client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = client.Write(hello)
		_, _ = client.Write(b)
		_ = client.Close()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Fatal("peer server did not finish")
		}
		<-drained
	})
}

func TestParseGossipKeys(t *testing.T) {
	k1 := "AAECAwQFBgcICQoLDA0ODw=="                     // 16 bytes
	k2 := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // 32 bytes
	keys, err := ParseGossipKeys(k1 + ", " + k2)
	if err != nil || len(keys) != 2 || len(keys[0]) != 16 || len(keys[1]) != 32 {
		t.Fatalf("parse: %v %d", err, len(keys))
	}
	if keys, err := ParseGossipKeys(""); err != nil || keys != nil {
		t.Fatal("empty setting must mean no keys")
	}
	for _, bad := range []string{"not base64!", "AAEC"} {
		if _, err := ParseGossipKeys(bad); !errors.Is(err, ErrConfig) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

func TestErrorCodesRoundTrip(t *testing.T) {
	for _, want := range []error{tiers.ErrNotFound, tiers.ErrNoSpace, tiers.ErrTooLarge, tiers.ErrCollision, ErrUnauthorized, ErrPeer} {
		got := errOfCode(codeOf(want), "x")
		if !errors.Is(got, want) {
			t.Errorf("%v -> %q -> %v", want, codeOf(want), got)
		}
	}
	if codeOf(errors.New("other")) != codeInternal {
		t.Error("an unknown error must be internal")
	}
}

func TestReadsMissAfterTheNodeLeaves(t *testing.T) {
	_, nodes := startCluster(t, 2, clusterOpts{})
	id := kvID("gone")
	store(t, nodes[1], id, payloadOf(1, 4096))
	waitFor(t, 5*time.Second, "owner gossiped", func() bool { return ownerSeen(nodes[:1], id, "n2") })
	if err := nodes[0].n.Close(); err != nil {
		t.Fatal(err)
	}
	// The engine still runs (node/ closes it after the cluster): its reads
	// past the local tiers are misses, not errors.
	if _, err := nodes[0].eng.Load(context.Background(), nil, id, actors.Chain()); !errors.Is(err, tiers.ErrNotFound) {
		t.Fatalf("read after leaving: %v", err)
	}
	store(t, nodes[0], kvID("still-local"), payloadOf(2, 4096))
}

// A node whose seed is not up yet starts alone, retries, and joins once the
// seed appears (nodes of a fleet start in any order).
func TestJoinRetriesASeedThatIsNotUpYet(t *testing.T) {
	mn := NewMemNetwork(7)
	o := clusterOpts{memBytes: 8 << 20, cxlBytes: 8 << 20}
	// MemNetwork numbers transports from 127.0.0.1:10001: b is first, so
	// the seed a will listen on 10002.
	b := startNode(t, mn, "b", o, 1, []string{"127.0.0.1:10002"})
	if got := b.n.PendingSeeds(); len(got) != 1 {
		t.Fatalf("pending seeds after a failed join: %v", got)
	}
	a := startNode(t, mn, "a", o, 0, nil)
	if a.n.GossipAddr() != "127.0.0.1:10002" {
		t.Fatalf("seed address %s: the test's assumption about MemNetwork broke", a.n.GossipAddr())
	}
	waitFor(t, 10*time.Second, "b to join the late seed", func() bool {
		return len(a.n.Members()) == 2 && len(b.n.Members()) == 2 && len(b.n.PendingSeeds()) == 0
	})
}

func TestUnreachableClassifiesJoinErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, dialErr := net.Dial("tcp", addr)
	if dialErr == nil {
		t.Skip("the closed port was reused")
	}
	// memberlist wraps each seed's error with %v, losing its type.
	refused := fmt.Errorf("1 error occurred:\n\t* Failed to join %s: %v", addr, dialErr)
	if !unreachable(refused) {
		t.Errorf("refused dial not retryable: %v", refused)
	}
	// Go's resolver errors as memberlist formats them: a name with no
	// records yet, and a DNS server that cannot answer.
	for _, e := range []error{
		errors.New("1 error occurred:\n\t* Failed to resolve stratacache-gossip:7946: lookup stratacache-gossip on 10.96.0.10:53: no such host"),
		errors.New("1 error occurred:\n\t* Failed to resolve stratacache-gossip:7946: lookup stratacache-gossip on 10.96.0.10:53: server misbehaving"),
	} {
		if !unreachable(e) {
			t.Errorf("a seed name that does not resolve (yet) must be retried: %v", e)
		}
	}
	wrongKey := errors.New("1 error occurred:\n\t* Failed to join 127.0.0.1:7946: No installed keys could decrypt the message")
	if unreachable(wrongKey) {
		t.Errorf("a wrong key must fail the start: %v", wrongKey)
	}
}

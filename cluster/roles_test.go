package cluster

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
)

// A client credential reads through the peer port but cannot demote or
// delete (the peer role's ops); a subscriber credential sees directory
// views only; the peer token does everything.
func TestClientCredentialCannotDemoteOrDelete(t *testing.T) {
	_, nodes := startCluster(t, 2, clusterOpts{cfg: func(_ int, c *Config) {
		c.PeerToken = []byte("peer-secret")
		c.ClientToken = []byte("client-secret")
		c.SubscriberToken = []byte("subscriber-secret")
	}})
	id := kvID("guarded")
	p := payloadOf(1, 4096)
	store(t, nodes[1], id, p)
	waitFor(t, 5*time.Second, "owner gossiped", func() bool { return ownerSeen(nodes[:1], id, "n2") })
	// The nodes reach each other with the peer token.
	if got, err := nodes[0].eng.Load(context.Background(), nil, id, actors.Chain()); err != nil || !bytes.Equal(got, p) {
		t.Fatalf("a node's remote read: %v", err)
	}
	addr := nodes[1].n.PeerAddr()
	pool := func(token string) *peerPool {
		pp := newPeerPool(&Config{NodeName: "sched", Epoch: 1, PeerToken: []byte(token), Dialer: &net.Dialer{}, MaxIdleConns: 1, MaxArtifactBytes: 1 << 20}, nil)
		t.Cleanup(pp.close)
		return pp
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	client := pool("client-secret")
	if b, _, _, err := client.fetch(ctx, addr, id, nil); err != nil || !bytes.Equal(b, p) {
		t.Fatalf("client fetch: %v", err)
	}
	if _, err := client.stat(ctx, addr, id); err != nil {
		t.Fatalf("client stat: %v", err)
	}
	if _, err := client.dirSync(ctx, addr); err != nil {
		t.Fatalf("client directory view: %v", err)
	}
	if _, err := client.demote(ctx, addr, kvID("planted"), payloadOf(2, 4096), artifact.Meta{}); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("client demote: %v, want ErrUnauthorized", err)
	}
	if _, err := client.simple(ctx, addr, opPeerDelete, []artifact.ID{id}); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("client delete: %v, want ErrUnauthorized", err)
	}
	if nodes[1].cxl.Contains(kvID("planted")) || !(nodes[1].mem.Contains(id) || nodes[1].cxl.Contains(id)) {
		t.Fatal("a refused demote or delete reached the tiers")
	}

	sub := pool("subscriber-secret")
	if _, err := sub.dirSync(ctx, addr); err != nil {
		t.Fatalf("subscriber directory view: %v", err)
	}
	if _, _, _, err := sub.fetch(ctx, addr, id, nil); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("subscriber fetch: %v, want ErrUnauthorized", err)
	}
	if _, err := sub.simple(ctx, addr, opPeerDelete, []artifact.ID{id}); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("subscriber delete: %v, want ErrUnauthorized", err)
	}

	if _, _, _, err := pool("guess").fetch(ctx, addr, id, nil); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("a wrong token: %v", err)
	}

	peer := pool("peer-secret")
	if attrs, err := peer.simple(ctx, addr, opPeerDelete, []artifact.ID{id}); err != nil || attrs["found"] != "true" {
		t.Fatalf("peer delete: %v %v", attrs, err)
	}
	if s := nodes[1].n.Stats().Peer; s.Forbidden != 4 {
		t.Fatalf("forbidden requests counted: %d, want 4", s.Forbidden)
	}
}

func TestRolesOfOps(t *testing.T) {
	for _, op := range []messages.Op{messages.Op_OP_PEER_DEMOTE, messages.Op_OP_PEER_DELETE, messages.Op(71), messages.Op(100)} {
		if allowed(RoleClient, op) || allowed(RoleSubscriber, op) || !allowed(RolePeer, op) {
			t.Errorf("%v: only peers", op)
		}
	}
	if !allowed(RoleClient, messages.Op_OP_PEER_FETCH) || allowed(RoleSubscriber, messages.Op_OP_PEER_FETCH) || allowed(0, messages.Op_OP_PEER_DIR_SYNC) {
		t.Error("fetch: clients, not subscribers")
	}
	cfg := &Config{PeerToken: []byte("p"), ClientToken: []byte("c")}
	if roleOf(cfg, []byte("p")) != RolePeer || roleOf(cfg, []byte("c")) != RoleClient || roleOf(cfg, []byte("s")) != 0 || roleOf(cfg, nil) != 0 {
		t.Error("roleOf")
	}
	if roleOf(&Config{}, nil) != RolePeer {
		t.Error("an open transport: every connection is a peer")
	}
}

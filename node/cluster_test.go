package node

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
)

func clusterConfig(name string, join ...string) Config {
	cfg := testConfig()
	cfg.CPUCapacityMB = 16
	cfg.Cluster = ClusterConfig{Name: name, Bind: "127.0.0.1:0", Peer: "127.0.0.1:0", Preset: "local", Join: join}
	return cfg
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition
	}
}

// Two nodes built from config alone: b joins a, and an artifact stored on
// a is served by b through the remote tier (a local miss on b).
func TestClusteredNodesShareArtifacts(t *testing.T) {
	a := startNode(t, clusterConfig("a"))
	if a.Cluster() == nil {
		t.Fatal("cluster section ignored")
	}
	b := startNode(t, clusterConfig("b", a.Cluster().GossipAddr()))
	waitUntil(t, "two members on both nodes", func() bool {
		return len(a.Cluster().Members()) == 2 && len(b.Cluster().Members()) == 2
	})
	ctx := context.Background()
	id := artifact.MustID(artifact.NamespaceKV, "shared/prefix")
	want := bytes.Repeat([]byte("kv"), 50_000)
	if err := a.Engine().Store(ctx, id, want, actors.StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	// b learns the owner from the directory (or asks the home node).
	waitUntil(t, "b to serve a's artifact", func() bool {
		got, err := b.Engine().Load(ctx, nil, id, actors.Chain())
		return err == nil && bytes.Equal(got, want)
	})
	if st := b.Cluster().Stats(); st.Remote.Hits == 0 {
		t.Fatalf("b served it without a remote hit: %+v", st.Remote)
	}
	// Each node gossips its client ports, so followers can route to it.
	waitUntil(t, "a's native address in b's view", func() bool {
		for _, m := range b.Cluster().Members() {
			if m.Name == "a" {
				return m.Meta.NativeAddr == a.Addrs().Native && m.Meta.RESPAddr == a.Addrs().RESP
			}
		}
		return false
	})
	var info bytes.Buffer
	b.info(&info)
	for _, want := range []string{"cluster_enabled:1", "cluster_node:b", "cluster_members:2"} {
		if !bytes.Contains(info.Bytes(), []byte(want)) {
			t.Errorf("INFO lacks %q:\n%s", want, info.String())
		}
	}
	// A miss everywhere is a plain not-found, not a peer error.
	if _, err := b.Engine().Load(ctx, nil, artifact.MustID(artifact.NamespaceKV, "nobody"), actors.Chain()); !errors.Is(err, actors.ErrNotFound) {
		t.Fatalf("miss: %v", err)
	}
}

func TestClusterConfigValidation(t *testing.T) {
	cfg := testConfig()
	cfg.Cluster = ClusterConfig{Join: []string{"nocolon"}, Peer: "x", Preset: "wan"}
	err := cfg.Validate()
	for _, key := range []string{"cluster.join[0]", "cluster.peer", "cluster.preset"} {
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(key)) {
			t.Errorf("want an error naming %s, got %v", key, err)
		}
	}
	cfg = clusterConfig("k")
	cfg.Cluster.GossipKey = "not base64!"
	if _, err := ClusterSettings(cfg, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad gossip key: %v", err)
	}
}

// auth.peer_token, auth.token and auth.subscriber_token map to the peer
// port's three roles; one credential for two roles is refused.
func TestClusterSettingsRoles(t *testing.T) {
	cfg := testConfig()
	cfg.Cluster.Bind = "127.0.0.1:0"
	cfg.Auth = AuthConfig{Token: "client", PeerToken: "peer", SubscriberToken: "sub"}
	cc, err := ClusterSettings(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(cc.PeerToken) != "peer" || string(cc.ClientToken) != "client" || string(cc.SubscriberToken) != "sub" {
		t.Fatalf("tokens: peer %q client %q subscriber %q", cc.PeerToken, cc.ClientToken, cc.SubscriberToken)
	}
	// A client token never becomes the peer token: without auth.peer_token
	// a clustered node with auth.token (or a subscriber token) is refused,
	// by ClusterSettings and by Validate (whatever insecure says).
	for _, a := range []AuthConfig{{Token: "shared"}, {Token: "same", PeerToken: "same"},
		{PeerToken: "p", SubscriberToken: "p"}, {SubscriberToken: "s"}} {
		cfg.Auth = a
		if _, err := ClusterSettings(cfg, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", a, err)
		}
	}
	for _, insecure := range []bool{false, true} {
		cfg.Auth, cfg.Insecure = AuthConfig{Token: "shared"}, insecure
		if err := cfg.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "auth.peer_token") {
			t.Errorf("insecure %v: client token without a peer token: %v", insecure, err)
		}
	}
	// No token at all: the peer port is open, so it must be loopback
	// (local-cluster, the README's two-node example) or insecure.
	cfg.Auth, cfg.Insecure = AuthConfig{}, false
	if err := cfg.Validate(); err != nil {
		t.Fatalf("loopback cluster without tokens: %v", err)
	}
	cfg.Cluster.Peer = "0.0.0.0:7947"
	if err := cfg.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "cluster.peer") {
		t.Fatalf("open peer port beyond loopback: %v", err)
	}
	cfg.Insecure = true
	if err := cfg.Validate(); err != nil {
		t.Fatalf("open peer port beyond loopback with insecure: %v", err)
	}
	// A peer token alone protects the peer port: no insecure needed for it.
	cfg.Auth, cfg.Insecure = AuthConfig{PeerToken: "p"}, false
	if err := cfg.Validate(); err != nil {
		t.Fatalf("peer port beyond loopback with a peer token: %v", err)
	}
	cfg.Cluster.Peer = ""
	cfg.Auth = AuthConfig{Token: "c", PeerToken: "p", SubscriberToken: "s"}
	if s := cfg.YAML(); !bytes.Contains([]byte(s), []byte("peer_token: <redacted>")) || !bytes.Contains([]byte(s), []byte("subscriber_token: <redacted>")) {
		t.Fatalf("tokens printed: %s", s)
	}
}

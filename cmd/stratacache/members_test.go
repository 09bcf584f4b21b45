package main

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/stratacache/stratacache/clientsdk"
	"github.com/stratacache/stratacache/node"
)

// A client outside the cluster's process follows its membership through a
// node's native port (OP_MEMBERS): it learns both nodes with their native
// addresses from one seed, and sees a departure.
func TestClientFollowsMembershipThroughANode(t *testing.T) {
	start := func(name string, join ...string) *node.Node {
		cfg := node.Defaults()
		cfg.CPUCapacityMB = 8
		cfg.Disk.CapacityMB = 0
		cfg.Listen = node.ListenConfig{RESP: "127.0.0.1:0", Native: "127.0.0.1:0", Admin: "127.0.0.1:0"}
		cfg.Cluster = node.ClusterConfig{Name: name, Bind: "127.0.0.1:0", Peer: "127.0.0.1:0", Preset: "local", Join: join}
		n, err := node.New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		n.Start()
		return n
	}
	a := start("a")
	defer a.Shutdown(context.Background())
	b := start("b", a.Cluster().GossipAddr())
	seed := a.Addrs().Native
	c, err := clientsdk.New(clientsdk.WithNodes(seed))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	src := clientsdk.NodeMembers(c, seed)
	ctx := context.Background()
	names := func() ([]string, map[string]string) {
		ms, err := src(ctx)
		if err != nil {
			return nil, nil
		}
		var ns []string
		addrs := map[string]string{}
		for _, m := range ms {
			ns = append(ns, m.Name)
			addrs[m.Name] = m.Addr
		}
		sort.Strings(ns)
		return ns, addrs
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond) // polling a condition
		}
	}
	wait("both members with their native addresses", func() bool {
		ns, addrs := names()
		return len(ns) == 2 && addrs["a"] == a.Addrs().Native && addrs["b"] == b.Addrs().Native
	})
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	wait("b's departure", func() bool {
		ns, _ := names()
		return len(ns) == 1 && ns[0] == "a"
	})
}

package node

import (
	"context"
	"strings"
	"testing"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
)

// A clustered node exports its members by state and its remote traffic;
// the node that served the fetch counts it too.
func TestClusterMetrics(t *testing.T) {
	a := startNode(t, clusterConfig("a"))
	b := startNode(t, clusterConfig("b", a.Cluster().GossipAddr()))
	waitUntil(t, "two members", func() bool { return len(a.Cluster().Members()) == 2 && len(b.Cluster().Members()) == 2 })
	ctx := context.Background()
	id := artifact.MustID(artifact.NamespaceKV, "metrics/remote")
	if err := a.Engine().Store(ctx, id, make([]byte, 10_000), actors.StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "b to read a's artifact", func() bool {
		_, err := b.Engine().Load(ctx, nil, id, actors.Chain())
		return err == nil
	})
	metric := func(n *Node, name string) string {
		t.Helper()
		code, body := httpGet(t, "http://"+n.Addrs().Admin+"/metrics")
		if code != 200 {
			t.Fatalf("/metrics %d", code)
		}
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, name+" ") {
				return strings.TrimPrefix(line, name+" ")
			}
		}
		t.Fatalf("/metrics lacks %s", name)
		return ""
	}
	for _, n := range []*Node{a, b} {
		if got := metric(n, `stratacache_cluster_members{state="alive"}`); got != "2" {
			t.Errorf("alive members %s", got)
		}
		if got := metric(n, `stratacache_cluster_members{state="failed"}`); got != "0" {
			t.Errorf("failed members %s", got)
		}
		if got := metric(n, "stratacache_ready"); got != "1" {
			t.Errorf("ready %s", got)
		}
	}
	if got := metric(b, "stratacache_cluster_remote_hits_total"); got == "0" {
		t.Errorf("b's remote hits %s", got)
	}
	if got := metric(a, "stratacache_cluster_served_fetch_bytes_total"); got == "0" {
		t.Errorf("a served %s fetch bytes", got)
	}
	if got := metric(a, "stratacache_cluster_directory_entries"); got == "0" {
		t.Errorf("a's directory has %s entries", got)
	}
}

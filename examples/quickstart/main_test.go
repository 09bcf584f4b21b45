package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stratacache/stratacache/node"
)

// The quickstart runs as written against a three-node cluster started in
// this process the way `stratacache local-cluster` starts it.
func TestQuickstartRuns(t *testing.T) {
	var nodes []*node.Node
	for i := 0; i < 3; i++ {
		cfg := node.Defaults()
		cfg.CPUCapacityMB = 16
		cfg.Disk.CapacityMB = 0
		cfg.Telemetry.Export = false
		cfg.Listen = node.ListenConfig{RESP: "127.0.0.1:0", Native: "127.0.0.1:0"}
		cfg.Cluster = node.ClusterConfig{Name: fmt.Sprintf("n%d", i+1), Bind: "127.0.0.1:0", Peer: "127.0.0.1:0", Preset: "local"}
		if i > 0 {
			cfg.Cluster.Join = []string{nodes[0].Cluster().GossipAddr()}
		}
		n, err := node.New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		n.Start()
		t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
		nodes = append(nodes, n)
	}
	deadline := time.Now().Add(30 * time.Second)
	formed := func() bool {
		for _, n := range nodes {
			if len(n.Cluster().Members()) != 3 {
				return false
			}
		}
		return true
	}
	for !formed() {
		if time.Now().After(deadline) {
			t.Fatal("the cluster did not form")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, []string{nodes[0].Addrs().Native}, "", &out); err != nil {
		t.Fatalf("quickstart: %v\n%s", err, out.String())
	}
	want := regexp.MustCompile(`^following 3 nodes
prompt 1 -> (n\d) \(0 of 1024 tokens cached there\)
stored 4 chunks on (n\d)
prompt 2 -> (n\d) \(768 of 771 tokens cached there\)
read back 4 chunks
$`)
	m := want.FindStringSubmatch(out.String())
	if m == nil || m[1] != m[2] || m[2] != m[3] {
		t.Fatalf("output:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())
}

// docs/clientsdk.md shows this program as it is: the block after the
// quickstart marker is main.go, byte for byte.
func TestQuickstartInDocs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/clientsdk.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	const marker = "<!-- quickstart: examples/quickstart/main.go -->\n```go\n"
	_, rest, ok := strings.Cut(string(doc), marker)
	if !ok {
		t.Fatalf("docs/clientsdk.md has no %q", marker)
	}
	block, _, ok := strings.Cut(rest, "```\n")
	if !ok || block != string(src) {
		t.Fatal("the quickstart in docs/clientsdk.md differs from examples/quickstart/main.go: copy the file into the doc")
	}
}

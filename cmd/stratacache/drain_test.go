package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/node"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/eviction"
	"github.com/stratacache/stratacache/tiers/memory"
	"github.com/stratacache/stratacache/tiers/tiertest"
)

// `stratacache drain` (the preStop hook) turns a node's readiness off and
// flushes its write-back link below, with the auth token; without it, the
// node refuses and nothing changes.
func TestDrainFlushesWriteBackAndTurnsReadinessOff(t *testing.T) {
	top, err := memory.New(memory.Config{Name: "cpu", CapacityBytes: 64 << 20, Policy: eviction.NewLRU(1024)})
	if err != nil {
		t.Fatal(err)
	}
	lower := tiertest.New("disk", 256<<20)
	link := actors.DefaultLinkConfig()
	link.FlushInterval = time.Hour // only the drain flushes
	link.FlushBatchBytes = 1 << 40
	eng, err := actors.NewEngine(actors.Config{Tiers: []tiers.Tier{top, lower}, Links: []actors.LinkConfig{link}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.Defaults()
	cfg.Listen = node.ListenConfig{RESP: "127.0.0.1:0", Native: "127.0.0.1:0", Admin: "127.0.0.1:0"}
	cfg.Disk.CapacityMB = 0
	cfg.Auth.Token = "s3cret"
	n, err := node.NewWithEngine(cfg, eng, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	ctx := context.Background()
	for i := range 10 {
		id := artifact.MustID(artifact.NamespaceBlob, fmt.Sprintf("d%d", i))
		if err := eng.Store(ctx, id, bytes.Repeat([]byte{byte(i)}, 4096), actors.StoreOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if lower.PutCount() != 0 {
		t.Fatalf("flushed before the drain: %d puts below", lower.PutCount())
	}
	admin := n.Addrs().Admin
	readyz := func() int {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := readyz(); c != 200 {
		t.Fatalf("readyz before the drain: %d", c)
	}
	var out, errb bytes.Buffer
	if err := drain([]string{"-admin-addr", admin}, &out, &errb, "wrong"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("drain with a wrong token: %v", err)
	}
	if c := readyz(); c != 200 || lower.PutCount() != 0 {
		t.Fatalf("a refused drain changed the node: readyz %d, %d puts below", c, lower.PutCount())
	}
	if err := drain([]string{"-admin-addr", admin, "-timeout", "20s"}, &out, &errb, "s3cret"); err != nil {
		t.Fatalf("drain: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "drained in") {
		t.Errorf("output %q", out.String())
	}
	if c := readyz(); c != 503 {
		t.Errorf("readyz after the drain: %d", c)
	}
	for i := range 10 {
		id := artifact.MustID(artifact.NamespaceBlob, fmt.Sprintf("d%d", i))
		if !lower.Holds(id, bytes.Repeat([]byte{byte(i)}, 4096)) {
			t.Fatalf("d%d not flushed below by the drain", i)
		}
	}
	var es actors.EngineStats
	eng.Stats(&es)
	if es.Links[0].DirtyBytes != 0 {
		t.Errorf("%d dirty bytes after the drain", es.Links[0].DirtyBytes)
	}
	if err := drain([]string{"-admin-addr", admin, "-timeout", "-1s"}, &out, &errb, ""); err == nil {
		t.Error("negative timeout accepted")
	}
	if err := drain([]string{"-admin-addr", "127.0.0.1:1"}, &out, &errb, ""); err == nil {
		t.Error("drain of nothing succeeded")
	}
}

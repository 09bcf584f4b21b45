package embedded

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/clientsdk"
	"github.com/stratacache/stratacache/node"
)

// The same clientsdk calls as against a remote node, served by a real
// engine (memory over CXL test tiers) in this process.
func TestEmbeddedOverRealNode(t *testing.T) {
	cfg := node.Defaults()
	cfg.CPUCapacityMB = 1
	cfg.Limits.MaxPayloadMB = 1
	cfg.UseCXL = true
	cfg.CXLCapacityMB = 16
	cfg.CXLPath = filepath.Join(t.TempDir(), "cxl.pool")
	cfg.Disk.CapacityMB = 0
	cfg.Writeback = false
	cfg.Listen = node.ListenConfig{Native: "127.0.0.1:0"} // the in-process client uses no socket
	nd, err := node.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Shutdown(context.Background())
	c, err := NewClient(nd)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	id := artifact.MustID(artifact.NamespaceBlob, "k")
	if err := c.Put(ctx, id, []byte("in process")); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, nil, id)
	if err != nil || string(got) != "in process" {
		t.Fatalf("get = %q, %v", got, err)
	}
	if _, err := c.Get(ctx, nil, artifact.MustID(artifact.NamespaceBlob, "absent")); !errors.Is(err, clientsdk.ErrNotFound) {
		t.Fatalf("absent: %v, want ErrNotFound", err)
	}

	// Parameter chunks pushed out of the 1 MiB memory tier into CXL come
	// back up on Prefetch.
	ps := c.ParamStore("m")
	chunk := make([]byte, 256<<10)
	for i := 0; i < 8; i++ {
		if err := ps.PutChunk(ctx, "w", i, chunk); err != nil {
			t.Fatal(err)
		}
	}
	id0, _ := artifact.ParamKey{Model: "m", Name: "w", Chunk: 0}.ID()
	inCPU := func() bool {
		ok, err := nd.Engine().Contains(ctx, id0, actors.Exact(node.CPUTierName))
		return err == nil && ok
	}
	if inCPU() {
		t.Fatal("setup: chunk 0 should have been evicted from the CPU tier")
	}
	n, err := ps.PrefetchChunks(ctx, clientsdk.ParamRef{Name: "w", Chunk: 0})
	if err != nil || n != 1 {
		t.Fatalf("prefetch = %d, %v", n, err)
	}
	waitFor(t, inCPU)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

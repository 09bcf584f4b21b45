package embedded

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/clientsdk"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/tiertest"
)

// The same clientsdk calls as against a remote node, served by a real
// engine (memory over CXL test tiers) in this process.
func TestEmbeddedOverRealEngine(t *testing.T) {
	mem := tiertest.New("mem", 1<<20)
	cxl := tiertest.New("cxl", 8<<20).WithKind(tiers.KindCXL)
	link := actors.DefaultLinkConfig()
	link.Policy = actors.WriteThrough
	eng, err := actors.NewEngine(actors.Config{Tiers: []tiers.Tier{mem, cxl}, Links: []actors.LinkConfig{link},
		PromoteOnHit: true, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	c, err := clientsdk.New(clientsdk.WithEmbedded(Engine{E: eng}))
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
	if mem.Contains(id0) {
		t.Fatal("setup: chunk 0 should have been evicted from memory")
	}
	n, err := ps.PrefetchChunks(ctx, clientsdk.ParamRef{Name: "w", Chunk: 0})
	if err != nil || n != 1 {
		t.Fatalf("prefetch = %d, %v", n, err)
	}
	waitFor(t, func() bool { return mem.Contains(id0) })
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

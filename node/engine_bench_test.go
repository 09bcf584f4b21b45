package node

import (
	"context"
	"fmt"
	"testing"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
)

// BenchmarkEnginePaths measures the engine calls the RESP and native ports
// make per request, without the network: the floor under their latency.
func BenchmarkEnginePaths(b *testing.B) {
	cfg := Defaults()
	cfg.CPUCapacityMB = 256
	cfg.Disk.CapacityMB = 0
	eng, err := BuildEngine(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	ctx := context.Background()
	value := make([]byte, 4096)
	ids := make([]artifact.ID, 1024)
	for i := range ids {
		ids[i] = artifact.MustID(artifact.NamespaceBlob, fmt.Sprintf("k%d", i))
		if err := eng.Store(ctx, ids[i], value, actors.StoreOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("store-4KiB", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := eng.Store(ctx, ids[i%len(ids)], value, actors.StoreOptions{}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("view-4KiB", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			v, _, err := eng.View(ctx, ids[i%len(ids)], actors.Chain())
			if err != nil {
				b.Fatal(err)
			}
			v.Release()
			i++
		}
	})
	b.Run("contains", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if ok, err := eng.Contains(ctx, ids[i%len(ids)], actors.Chain()); err != nil || !ok {
				b.Fatal(ok, err)
			}
			i++
		}
	})
}

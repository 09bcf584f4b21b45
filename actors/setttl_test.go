package actors

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/disk"
	"github.com/stratacache/stratacache/tiers/eviction"
	"github.com/stratacache/stratacache/tiers/memory"
)

// SetTTL changes the expiry in place in every tier (memory and a
// persistent one below it, write-through), the disk copy's survives a
// reopen, and an artifact given a past expiry is gone from both.
func TestSetTTLInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk.tier")
	open := func() (*Engine, tiers.Tier) {
		mt, err := memory.New(memory.Config{Name: "cpu", CapacityBytes: 8 << 20, Policy: eviction.NewLRU(64)})
		if err != nil {
			t.Fatal(err)
		}
		dc := disk.DefaultConfig(path)
		dc.Name, dc.CapacityBytes = "disk", 8<<20
		dt, err := disk.Open(dc)
		if err != nil {
			t.Fatal(err)
		}
		l := DefaultLinkConfig()
		l.Policy = WriteThrough
		eng, err := NewEngine(Config{Tiers: []tiers.Tier{mt, dt}, Links: []LinkConfig{l}})
		if err != nil {
			t.Fatal(err)
		}
		return eng, dt
	}
	ctx := context.Background()
	eng, _ := open()
	id := artifact.MustID(artifact.NamespaceBlob, "k")
	gone := artifact.MustID(artifact.NamespaceBlob, "gone")
	for _, x := range []artifact.ID{id, gone} {
		if err := eng.Store(ctx, x, []byte("value"), StoreOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ttlIn := func(x artifact.ID, tier string) time.Duration {
		t.Helper()
		v, _, err := eng.View(ctx, x, Exact(tier))
		if err != nil {
			t.Fatalf("view %s in %s: %v", x, tier, err)
		}
		defer v.Release()
		return v.Meta().TTL
	}
	if ok, err := eng.SetTTL(ctx, id, time.Hour); err != nil || !ok {
		t.Fatalf("SetTTL: %v %v", ok, err)
	}
	for _, tier := range []string{"cpu", "disk"} {
		if d := ttlIn(id, tier); d < time.Hour || d > time.Hour+time.Minute {
			t.Fatalf("%s: TTL %v after SetTTL 1h", tier, d)
		}
	}
	if ok, err := eng.SetTTL(ctx, gone, time.Nanosecond); err != nil || !ok {
		t.Fatalf("SetTTL 1ns: %v %v", ok, err)
	}
	if _, _, err := eng.View(ctx, gone, Chain()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired artifact served: %v", err)
	}
	if ok, _ := eng.SetTTL(ctx, artifact.MustID(artifact.NamespaceBlob, "absent"), time.Hour); ok {
		t.Fatal("SetTTL found an absent key")
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	eng, _ = open()
	defer eng.Close()
	if d := ttlIn(id, "disk"); d < time.Hour {
		t.Fatalf("disk TTL after reopen: %v", d)
	}
	if ok, err := eng.SetTTL(ctx, id, 0); err != nil || !ok {
		t.Fatalf("persist: %v %v", ok, err)
	}
	if d := ttlIn(id, "disk"); d != 0 {
		t.Fatalf("disk TTL after persist: %v", d)
	}
}

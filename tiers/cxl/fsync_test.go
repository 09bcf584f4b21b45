package cxl

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/internal/engine"
	"github.com/stratacache/stratacache/tiers/internal/powerloss"
)

// A failed msync fails the pool for good, as a failed fsync does the disk
// tier: the Sync reports it, every later write is refused, reads miss, and
// the pool is fenced until reset.
func TestFailedMsyncFailsThePoolForGood(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pool")
	var med *powerloss.Medium
	cfg := Config{Name: "cxl", Path: path, CapacityBytes: 1 << 20, MaxArtifacts: 64,
		wrapMedia: func(m engine.Media) engine.Media { med = powerloss.Wrap(m); return med }}
	tr, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := tr.Put(ctx, powerloss.Key(1), powerloss.Payload(1, 1, 4096), tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	med.FailNextSyncs(1)
	if err := tr.Sync(); !errors.Is(err, tiers.ErrFailed) {
		t.Fatalf("sync: %v", err)
	}
	if err, fenced := tr.Failed(); err == nil || !fenced {
		t.Fatalf("failed %v, fenced %v", err, fenced)
	}
	if err := tr.Put(ctx, powerloss.Key(2), powerloss.Payload(2, 1, 4096), tiers.PutOptions{}); !errors.Is(err, tiers.ErrFailed) {
		t.Fatalf("put after the failure: %v", err)
	}
	if tr.Contains(powerloss.Key(1)) {
		t.Fatal("a failed pool still serves")
	}
	_ = tr.Close()
	cfg.wrapMedia = nil
	if _, err := Open(cfg); !errors.Is(err, tiers.ErrFailed) {
		t.Fatalf("reopen of a fenced pool: %v", err)
	}
	cfg.ResetMetadata = true
	tr, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_ = tr.Close()
}

package disk

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/internal/engine"
	"github.com/stratacache/stratacache/tiers/internal/powerloss"
)

// A failed fsync is fatal (PostgreSQL's fsyncgate: the kernel may have
// dropped the pages it could not write and a retry "succeeds"): the tier
// acknowledges nothing it cannot prove durable, refuses every later write,
// serves nothing more, and fences the file so that a reopen refuses it
// until it is reset.
func TestFailedSyncFailsTheTierForGood(t *testing.T) {
	for _, dur := range []Durability{DurabilitySync, DurabilityBatch} {
		t.Run(string(dur), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tier")
			var med *powerloss.Medium
			cfg := Config{Name: "disk", Path: path, CapacityBytes: 1 << 20, MaxArtifacts: 64, Durability: dur,
				wrapMedia: func(m engine.Media) engine.Media { med = powerloss.Wrap(m); return med }}
			tr, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			before := powerloss.Payload(1, 1, 4096)
			if err := tr.Put(ctx, powerloss.Key(1), before, tiers.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := tr.Sync(); err != nil {
				t.Fatal(err)
			}
			med.FailNextSyncs(1)
			switch dur {
			case DurabilitySync:
				// The put whose fdatasync fails is not acknowledged.
				err := tr.Put(ctx, powerloss.Key(2), powerloss.Payload(2, 1, 4096), tiers.PutOptions{})
				if !errors.Is(err, tiers.ErrFailed) {
					t.Fatalf("put whose sync failed: %v", err)
				}
			case DurabilityBatch:
				// The background sync fails; the tier notices by itself.
				if err := tr.Put(ctx, powerloss.Key(2), powerloss.Payload(2, 1, 4096), tiers.PutOptions{}); err != nil {
					t.Fatal(err)
				}
				deadline := waitUntil(t, func() bool { err, fenced := tr.Failed(); return err != nil && fenced })
				if !deadline {
					t.Fatal("the failed background sync did not fail the tier")
				}
			}
			ferr, fenced := tr.Failed()
			if !errors.Is(ferr, powerloss.ErrSyncInjected) || !fenced {
				t.Fatalf("failed: %v, fenced %v", ferr, fenced)
			}
			if err := tr.Put(ctx, powerloss.Key(3), before, tiers.PutOptions{}); !errors.Is(err, tiers.ErrFailed) {
				t.Fatalf("put after the failure: %v", err)
			}
			if _, err := tr.Delete(ctx, powerloss.Key(1), tiers.DeleteOptions{}); !errors.Is(err, tiers.ErrFailed) {
				t.Fatalf("delete after the failure: %v", err)
			}
			if _, err := tr.Get(make([]byte, 8192), powerloss.Key(1)); !errors.Is(err, tiers.ErrNotFound) || !errors.Is(err, tiers.ErrFailed) {
				t.Fatalf("read after the failure: %v", err)
			}
			_ = tr.Close()
			cfg.wrapMedia = nil
			if _, err := Open(cfg); !errors.Is(err, tiers.ErrFailed) {
				t.Fatalf("reopen of a fenced tier: %v", err)
			}
			cfg.Reset = true
			tr, err = Open(cfg)
			if err != nil {
				t.Fatalf("reset of a fenced tier: %v", err)
			}
			defer tr.Close()
			if tr.Contains(powerloss.Key(1)) {
				t.Fatal("a reset tier serves what it held")
			}
		})
	}
}

// waitUntil polls cond (the batch syncer runs every BatchInterval).
func waitUntil(t *testing.T, cond func() bool) bool {
	t.Helper()
	for i := 0; i < 10000; i++ {
		if cond() {
			return true
		}
		sleepTick()
	}
	return false
}

func sleepTick() { <-time.After(time.Millisecond) } // polling a condition, not synchronising by sleep

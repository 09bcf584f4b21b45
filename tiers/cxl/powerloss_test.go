package cxl

import (
	"path/filepath"
	"testing"

	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/internal/engine"
	"github.com/stratacache/stratacache/tiers/internal/powerloss"
)

// A power cut at a random write, with every write since the last Sync
// discarded (a random prefix kept, the next one torn at a sector boundary),
// over 1,000 seeded cycles on one pool file: nothing acknowledged durable is
// lost, nothing older or torn is served. (A CXL pool on a volatile memory
// expander keeps nothing across a power loss; this is the pool file on a
// disk, whose Sync is msync.) STRATACACHE_POWERLOSS_CYCLES=N runs more.
func TestPowerLoss(t *testing.T) {
	open := func(dir string, wrap func(engine.Media) engine.Media) (tiers.Tier, error) {
		return Open(Config{Name: "cxl", Path: filepath.Join(dir, "pool"), CapacityBytes: 1 << 20, MaxArtifacts: 64, wrapMedia: wrap})
	}
	powerloss.Run(t, powerloss.Config{
		Cycles: 1000, Keys: 16, MinSize: 1, MaxSize: 16 << 10, MaxOps: 24, MaxCrashWrites: 60,
		Model: powerloss.Ordered, Tear: true, Seed: 11,
	}, open)
}

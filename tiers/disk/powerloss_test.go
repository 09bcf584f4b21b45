package disk

import (
	"path/filepath"
	"testing"

	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/internal/engine"
	"github.com/stratacache/stratacache/tiers/internal/powerloss"
)

// Power cuts at a random write over 1,000 seeded cycles per case on one
// tier file: nothing acknowledged durable is lost (with durability sync,
// every acknowledged store and delete; otherwise what a Sync covered),
// nothing older or torn is served. With durability sync the unsynced writes
// also land in any order, sector by sector (the kernel writes pages back in
// no particular order). STRATACACHE_POWERLOSS_CYCLES=N runs more.
func TestPowerLoss(t *testing.T) {
	for _, c := range []struct {
		name  string
		dur   Durability
		model powerloss.Model
	}{
		// Any order per sector includes every ordered prefix with a torn
		// write after it.
		{"sync/any-order", DurabilitySync, powerloss.Sectors},
		{"none/ordered-torn", DurabilityNone, powerloss.Ordered},
	} {
		t.Run(c.name, func(t *testing.T) {
			open := func(dir string, wrap func(engine.Media) engine.Media) (tiers.Tier, error) {
				return Open(Config{Name: "disk", Path: filepath.Join(dir, "tier"), CapacityBytes: 1 << 20, MaxArtifacts: 64, Durability: c.dur, wrapMedia: wrap})
			}
			powerloss.Run(t, powerloss.Config{
				Cycles: 1000, Keys: 16, MinSize: 1, MaxSize: 16 << 10, MaxOps: 24, MaxCrashWrites: 60,
				SyncEachOp: c.dur == DurabilitySync, Model: c.model, Tear: true, Seed: 7,
			}, open)
		})
	}
}

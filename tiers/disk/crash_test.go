package disk

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/internal/crashtest"
)

var crashCfg = crashtest.Config{
	ChildTest: "TestCrashChild", Cycles: 100, Keys: 48, MaxAcks: 40,
	MinSize: 4 << 10, MaxSize: 1 << 20, Seed: 7, MaxKillDelay: 2 * time.Millisecond,
}

func crashOpen(dir string) (tiers.Tier, error) {
	c := DefaultLocalConfig(filepath.Join(dir, "tier"))
	c.CapacityBytes = 128 << 20 // holds every key: an eviction would look like a loss
	c.MaxArtifacts = 1024
	c.Durability = DurabilitySync
	return Open(c)
}

// TestCrashChild is the child of TestCrashKillReopen; it does nothing in a
// normal run.
func TestCrashChild(t *testing.T) {
	if !crashtest.IsChild() {
		t.Skip("crash child only")
	}
	crashtest.Child(t, crashCfg, crashOpen)
}

// TestCrashKillReopen SIGKILLs a process storing with durability sync at
// seeded moments and checks every acknowledged artifact after each reopen
// (STRATACACHE_CRASH_CYCLES=5000 for a soak).
func TestCrashKillReopen(t *testing.T) {
	if crashtest.IsChild() {
		t.Skip("in the child")
	}
	crashtest.Run(t, crashCfg, crashOpen)
}

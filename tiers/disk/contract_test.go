package disk

import (
	"path/filepath"
	"testing"

	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/tiertest"
)

func TestContract(t *testing.T) {
	for _, dur := range []Durability{DurabilityNone, DurabilitySync} {
		t.Run(string(dur), func(t *testing.T) {
			cfgs := map[tiers.Tier]Config{}
			openCfg := func(t *testing.T, c Config) tiers.Tier {
				tr, err := Open(c)
				if err != nil {
					t.Fatal(err)
				}
				cfgs[tr] = c
				return tr
			}
			tiertest.RunContract(t, tiertest.Harness{
				New: func(t *testing.T, capacity int64) tiers.Tier {
					return openCfg(t, Config{Name: "disk", Path: filepath.Join(t.TempDir(), "tier"), CapacityBytes: capacity, MaxArtifacts: 256, Durability: dur})
				},
				Reopen: func(t *testing.T, tr tiers.Tier) tiers.Tier {
					c := cfgs[tr]
					if err := tr.Close(); err != nil {
						t.Fatal(err)
					}
					return openCfg(t, c)
				},
				Evicts: true, Versioned: true, Pins: true, Collisions: true,
			})
		})
	}
}

package cxl

import (
	"path/filepath"
	"testing"

	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/tiertest"
)

func TestContract(t *testing.T) {
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
			return openCfg(t, Config{Name: "cxl", Path: filepath.Join(t.TempDir(), "pool"), CapacityBytes: capacity, MaxArtifacts: 256})
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
}

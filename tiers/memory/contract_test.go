package memory

import (
	"testing"

	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/tiertest"
)

func TestContract(t *testing.T) {
	tiertest.RunContract(t, tiertest.Harness{
		New: func(t *testing.T, capacity int64) tiers.Tier {
			tr, err := New(Config{Name: "memory", CapacityBytes: capacity, PolicyName: "lru"})
			if err != nil {
				t.Fatal(err)
			}
			return tr
		},
		Evicts: true, Versioned: true, Pins: true, Collisions: true,
	})
}

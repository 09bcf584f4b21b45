package tiertest

import (
	"testing"

	"github.com/stratacache/stratacache/tiers"
)

// The fake keeps the contract it ships for the others.
func TestContract(t *testing.T) {
	RunContract(t, Harness{
		New:       func(t *testing.T, capacity int64) tiers.Tier { return New("fake", capacity) },
		Evicts:    true,
		Versioned: true,
		Pins:      true, Collisions: true,
	})
}

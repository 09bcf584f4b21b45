package simulations

import (
	"errors"

	"github.com/stratacache/stratacache/tiers/eviction"
)

func newPolicy(name string, capacity int) (eviction.Policy, error) {
	return nil, errors.New("eviction.New not yet available")
}

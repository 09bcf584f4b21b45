package simulations

import (
	"errors"

	"github.com/stratacache/stratacache/tiers/eviction"
)

func newPolicy(name string, capacity int) (eviction.Policy, error) {
	switch name {
	case "lru":
		return eviction.NewLRU(capacity), nil
	case "fifo":
		return eviction.NewFIFO(capacity), nil
	case "sieve":
		return eviction.NewSIEVE(capacity), nil
	case "s3fifo":
		return eviction.NewS3FIFO(capacity), nil
	}
	return nil, errors.New("eviction.New not yet available")
}

package simulations

import (
	"errors"
	"fmt"
	"strings"

	"github.com/stratacache/stratacache/simulations/trace"
	"github.com/stratacache/stratacache/tiers/eviction"
)

// Sentinel errors of the package, wrapped with %w and context.
var (
	// ErrPolicy: an unknown policy name or a policy that misbehaves.
	ErrPolicy = errors.New("simulations: bad policy")
	// ErrCapacity: a capacity that is not a positive block count.
	ErrCapacity = errors.New("simulations: bad capacity")
	// ErrConfig: an invalid multi-tier or multi-node configuration.
	ErrConfig = errors.New("simulations: bad configuration")
)

// Names of the simulator's own caches; every other name goes to
// eviction.New.
const (
	PolicyMIN      = "min"
	PolicyInfinite = "infinite"
)

// Cache is a prefix cache of blocks the simulator drives one request at a
// time.
type Cache interface {
	Name() string
	// Access applies one request (dense block ids, root first) whose first
	// block sits at index pos of the trace's Blocks array, and returns the
	// number of leading blocks that were cached before it.
	Access(blocks []uint32, pos int) int
	// Len is the number of cached blocks.
	Len() int
}

// Evictor is a Cache that reports the blocks it evicts (multi-tier mode
// demotes them).
type Evictor interface {
	Cache
	// SetEvictFunc installs f, called synchronously for every victim.
	SetEvictFunc(f func(block uint32))
}

// NewCache builds the cache named policy with room for capacity blocks for
// trace tr: min (the oracle, which reads tr's future), infinite (capacity
// ignored) or any eviction.New name.
func NewCache(policy string, capacity int, tr *trace.Trace) (Cache, error) {
	name := strings.ToLower(strings.TrimSpace(policy))
	switch name {
	case PolicyInfinite, "inf":
		return newInfinite(tr.NumBlocks()), nil
	}
	if capacity <= 0 {
		return nil, fmt.Errorf("%w: %d blocks", ErrCapacity, capacity)
	}
	if name == PolicyMIN || name == "belady" || name == "opt" {
		return NewMIN(capacity, NewOracle(tr)), nil
	}
	if name == "lru" && uint64(tr.NumBlocks()+1) <= 4*uint64(capacity) {
		// The cache holds a good share of the trace's blocks: index the
		// dense block ids directly (no larger than the hashed index at this
		// capacity; the same decisions).
		return NewPolicyCache(eviction.NewLRUDense(capacity, uint64(tr.NumBlocks()+1)), capacity, tr), nil
	}
	p, err := eviction.New(name, capacity)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrPolicy, policy, err)
	}
	return NewPolicyCache(p, capacity, tr), nil
}

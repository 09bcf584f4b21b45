package simulations

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/stratacache/stratacache/simulations/trace"
	"github.com/stratacache/stratacache/tiers/eviction"
)

// ReadBufferCache is a PolicyCache whose policy records hits as the memory
// tier does by default: through an eviction.Buffered read buffer (stripes
// of eviction.ReadBatch hits applied in batches, drained in time order
// before each Evict), with a contention model: every hit is buffered, as
// when the tier's policy lock is held, and each time a full stripe would
// take the lock it is found held by another reader with probability busy
// (seeded): the stripe keeps gathering, and overwrites its oldest hits
// once full.
type ReadBufferCache struct {
	*PolicyCache
	b *eviction.Buffered
}

// NewReadBufferCache builds policy (an eviction.New name) at capacity
// blocks for tr, with hits buffered and a busy probability in [0, 1].
func NewReadBufferCache(policy string, capacity int, tr *trace.Trace, busy float64, seed uint64) (*ReadBufferCache, error) {
	if capacity <= 0 {
		return nil, fmt.Errorf("%w: %d blocks", ErrCapacity, capacity)
	}
	if busy < 0 || busy > 1 || busy != busy {
		return nil, fmt.Errorf("%w: busy probability %v outside [0, 1]", ErrConfig, busy)
	}
	p, err := eviction.New(strings.ToLower(strings.TrimSpace(policy)), capacity)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrPolicy, policy, err)
	}
	// The simulator is the only goroutine: the owner's lock is never held
	// when a hit comes, so Hit's TryLock always succeeds; busy models the
	// other readers.
	b := eviction.NewBuffered(p, new(sync.Mutex), 0)
	// The model buffers every hit (as under contention in the tier); busy
	// 0 is a buffer whose batches always find the lock free.
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	b.SetBusy(func() bool { return busy > 0 && rng.Float64() < busy })
	return &ReadBufferCache{PolicyCache: NewPolicyCache(&hitBuffered{Buffered: b}, capacity, tr), b: b}, nil
}

// Stats reports what became of the recorded hits.
func (c *ReadBufferCache) Stats(s *eviction.BufferStats) { c.b.Stats(s) }

// hitBuffered routes the simulator's touches into the read buffer, stamped
// with a logical clock.
type hitBuffered struct {
	*eviction.Buffered
	clock int64
}

func (h *hitBuffered) Touch(key uint64) {
	h.clock++
	h.Buffered.Hit(key, h.clock)
}

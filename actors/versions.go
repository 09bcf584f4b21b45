package actors

import (
	"sync/atomic"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// versionClock issues the versions of stores and deletes: strictly
// increasing within a process, and above every version issued by an
// earlier process on the same tiers. It starts at max(the persistent tiers'
// high-water marks + 1, the wall clock in nanoseconds): the tiers' leases
// cover a clock that went backwards, and the clock covers a chain without
// persistent tiers (a version issued by the previous process is below the
// time it was issued, as long as fewer than 10^9 versions a second are
// issued).
type versionClock struct{ last atomic.Uint64 }

func (c *versionClock) seed(ts []tiers.Tier, now time.Time) {
	v := uint64(now.UnixNano())
	for _, t := range ts {
		if h, ok := t.(tiers.HighWaterMarker); ok {
			v = max(v, h.VersionHighWater()+1)
		}
	}
	c.last.Store(v)
}

func (c *versionClock) next() uint64 { return c.last.Add(1) }

// copyGuard is the chain's one place for the version rule of copies
// between tiers (flush, promote, Promote). A copy notes its key stripe's
// generation before it reads its source; the tier it copies into calls
// Admit under its index lock, right before it publishes the copy (a
// tiers.Guard), and Admit refuses unless no store or delete of a key of the
// stripe ran in between (the generation is odd while one runs and moves at
// its start and end). So a copy that read its source before a newer store
// or a delete of its key began can never land after it: that writer had
// already moved the generation, or it starts after the copy was published
// and then replaces or removes it (stores and deletes go through the same
// index lock). A writer of another key of the same stripe (1 in 4,096) also
// refuses the copy; the callers treat a refusal as "try again later"
// (flushOne) or skip it (promotions are best effort).
//
// What makes this enough: every store also invalidates the copies older
// than itself in the tiers below it before it returns, so a finished store
// or delete leaves no older copy behind that a later copy could read; and a
// demotion (an eviction) copies an artifact that stays current until it
// lands, because a store or delete of the key waits for the eviction to
// finish (tiers.EvictFunc).
//
// It replaced a registry (a sharded map of in-flight keys with their
// newest version and a reference count) that every store and delete
// entered and left: two mutexes and two map writes on the store path, which
// the stripe lock every store takes anyway already pays for.
type copyGuard struct {
	ks  *keyStripe
	gen uint64
}

// guardCopy starts a copy of id: call it before reading the source.
func (e *Engine) guardCopy(id artifact.ID) *copyGuard {
	ks := &e.keys[id.Hash%keyStripes]
	return &copyGuard{ks: ks, gen: ks.gen.Load()}
}

// Admit implements tiers.Guard: no store or delete of the stripe began
// since the copy started (nor was one running then).
func (c *copyGuard) Admit(artifact.ID, uint64) bool { return c.valid() }

func (c *copyGuard) valid() bool { return c.gen&1 == 0 && c.ks.gen.Load() == c.gen }

// writersRunning is the number of key stripes with a store or delete
// running now.
func (e *Engine) writersRunning() int {
	n := 0
	for i := range e.keys {
		if e.keys[i].gen.Load()&1 == 1 {
			n++
		}
	}
	return n
}

var _ tiers.Guard = (*copyGuard)(nil)

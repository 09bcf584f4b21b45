package eviction

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
)

// ReadBatch is the number of read hits a stripe of a Buffered policy
// gathers before it tries to apply them to the policy in one batch; while
// the owner's lock is busy it keeps gathering, up to ReadBuffered hits,
// then overwrites its oldest.
const (
	ReadBatch    = 32
	ReadBuffered = 2 * ReadBatch
)

// DefaultReadStripes is the number of stripes NewBuffered uses for 0.
const DefaultReadStripes = 64

// Buffered lets an owner record read hits without waiting for the lock
// that serialises its Policy, as ristretto's and Caffeine's read buffers
// do. When the lock is free (TryLock), Hit applies the hit at once, as an
// unbuffered owner would. When it is held, Hit appends the key and a time
// stamp to a small stripe (chosen by the key, with its own mutex held for a
// few nanoseconds); a stripe that has gathered ReadBatch hits is applied in
// one batch if the lock is free then, and keeps gathering otherwise, up to
// ReadBuffered hits, then overwrites its oldest. Every other call needs the
// owner's lock, as for any Policy; Evict first drains every stripe in stamp
// order, so the victim is chosen knowing the hits recorded so far.
//
// What it costs: hits buffered while the lock was busy reach the policy
// later than the direct ones (a full stripe's batch, or the drain before
// the next Evict, sorted by stamp among themselves), and a full stripe that
// keeps finding the lock busy loses its oldest hits (Stats counts them);
// the eviction order is that of the wrapped policy fed slightly reordered
// and lossy touches. Without contention every hit is direct: exact.
// docs/eviction.md has the hit rates this costs on the traces (the
// simulator drives this same type, with a contention model);
// docs/BENCHMARKS.md the read scaling measured against the exact mode.
type Buffered struct {
	Policy  // the wrapped policy: its methods need the owner's lock
	mu      *sync.Mutex
	stripes []readStripe
	mask    uint64
	busy    func() bool
	scratch []hit // Drain's, under the owner's lock
	dropped atomic.Uint64
	applied atomic.Uint64
}

type hit struct {
	key uint64
	at  int64
}

type readStripe struct {
	mu     sync.Mutex
	n      atomic.Int32  // hits since the last apply (the newest ReadBuffered kept); written under mu
	direct atomic.Uint64 // hits applied at once (the lock was free)
	hits   [ReadBuffered]hit
	_      [44]byte // the next stripe's mutex on another cache line
}

// NewBuffered wraps p, whose owner serialises calls with mu. stripes is
// rounded up to a power of two (0: DefaultReadStripes); more stripes mean
// less contention between readers and more hits waiting to be applied
// (at most stripes*ReadBuffered).
func NewBuffered(p Policy, mu *sync.Mutex, stripes int) *Buffered {
	if stripes <= 0 {
		stripes = DefaultReadStripes
	}
	n := 1
	for n < stripes && n < 1<<16 {
		n <<= 1
	}
	return &Buffered{Policy: p, mu: mu, stripes: make([]readStripe, n), mask: uint64(n - 1)}
}

// SetBusy installs a contention model for a single-threaded driver (the
// simulator): every hit is then buffered (as if the lock was held when it
// came), and before each TryLock of a full stripe busy is asked whether
// another goroutine holds the lock; true keeps the stripe gathering.
// nil removes it. Call it before the first Hit; not safe concurrently with
// Hit.
func (b *Buffered) SetBusy(busy func() bool) { b.busy = busy }

// Hit records a read hit of key at time at (any clock that does not go
// backwards between Evicts: nanoseconds, or a counter). It must be called
// without the owner's lock held (it may take it to apply a full stripe);
// it never blocks on that lock: while the lock is busy a stripe keeps
// gathering, and once full (ReadBuffered hits) it overwrites its oldest.
func (b *Buffered) Hit(key uint64, at int64) {
	s := &b.stripes[(key*fibMul)>>32&b.mask]
	if b.busy == nil && b.mu.TryLock() {
		// The lock is free: apply the hit at once, as an unbuffered owner
		// would (nobody waits for it; hits still in stripes keep their
		// stamps and are applied by the next Drain).
		b.Policy.Touch(key)
		b.mu.Unlock()
		return
	}
	s.mu.Lock()
	n := s.n.Load()
	s.hits[n%ReadBuffered] = hit{key, at}
	n++
	if n < ReadBatch {
		s.n.Store(n)
		s.mu.Unlock()
		return
	}
	if n > ReadBuffered {
		b.dropped.Add(1) // overwrote the oldest of a full stripe
	}
	if !b.tryLock() {
		s.n.Store(n)
		s.mu.Unlock()
		return
	}
	var batch [ReadBuffered]hit
	k := copy(batch[:], s.hits[:min(n, ReadBuffered)])
	if n > ReadBuffered { // wrapped: oldest first
		oldest := int(n % ReadBuffered)
		copy(batch[:], s.hits[oldest:])
		copy(batch[ReadBuffered-oldest:], s.hits[:oldest])
	}
	s.n.Store(0)
	s.mu.Unlock()
	for _, h := range batch[:k] {
		b.Policy.Touch(h.key)
	}
	b.mu.Unlock()
	b.applied.Add(uint64(k))
}

// tryLock takes the owner's lock if it is free (and the contention model,
// if any, says so).
func (b *Buffered) tryLock() bool {
	return (b.busy == nil || !b.busy()) && b.mu.TryLock()
}

// Drain applies every buffered hit to the policy, oldest first; the
// owner's lock held.
func (b *Buffered) Drain() {
	all := b.scratch[:0]
	for i := range b.stripes {
		s := &b.stripes[i]
		if s.n.Load() == 0 {
			// A hit landing after this peek is one Drain late.
			continue
		}
		s.mu.Lock()
		all = append(all, s.hits[:min(s.n.Load(), ReadBuffered)]...)
		s.n.Store(0)
		s.mu.Unlock()
	}
	if len(all) == 0 {
		return
	}
	slices.SortStableFunc(all, func(x, y hit) int { return cmp.Compare(x.at, y.at) })
	for _, h := range all {
		b.Policy.Touch(h.key)
	}
	b.applied.Add(uint64(len(all)))
	b.scratch = all[:0]
}

// Evict drains the buffered hits, then evicts; the owner's lock held.
func (b *Buffered) Evict() (uint64, bool) {
	b.Drain()
	return b.Policy.Evict()
}

// SetParent forwards to the wrapped policy if it is ParentAware; the
// owner's lock held.
func (b *Buffered) SetParent(key, parent uint64) {
	if pa, ok := b.Policy.(ParentAware); ok {
		pa.SetParent(key, parent)
	}
}

// Unwrap returns the wrapped policy.
func (b *Buffered) Unwrap() Policy { return b.Policy }

// BufferStats counts what became of the hits that were buffered (hits
// applied at once, the lock being free, are not counted: a shared counter
// would cost every hit an atomic write).
type BufferStats struct {
	Applied uint64 // buffered hits applied to the policy
	Dropped uint64 // hits lost (overwritten in a full stripe while the lock was busy)
}

// Stats fills s; safe at any time.
func (b *Buffered) Stats(s *BufferStats) {
	s.Applied = b.applied.Load()
	s.Dropped = b.dropped.Load()
}

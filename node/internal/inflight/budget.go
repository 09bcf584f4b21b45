package inflight

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// ErrBusy is returned when a request's bytes do not fit in the budget
// within the wait: the protocols answer it with -BUSY (RESP) or the busy
// status (native), and nothing has been allocated for the request.
var ErrBusy = errors.New("inflight: too many bytes in flight on this node; retry later")

// Budget bounds the bytes in flight. The zero value is not usable; a nil
// *Budget admits everything (tests, embedding).
type Budget struct {
	sem  *semaphore.Weighted
	size int64
	wait time.Duration

	used            atomic.Int64
	waits, refusals atomic.Int64
	peak            atomic.Int64
}

// New returns a budget of size bytes whose Acquire waits at most wait.
func New(size int64, wait time.Duration) *Budget {
	return &Budget{sem: semaphore.NewWeighted(size), size: size, wait: wait}
}

// Acquire takes n bytes, waiting up to the budget's wait (or ctx) for them;
// then it fails with ErrBusy. A request larger than the whole budget fails
// at once. n <= 0 takes nothing.
func (b *Budget) Acquire(ctx context.Context, n int64) error {
	if b == nil || n <= 0 {
		return nil
	}
	if n > b.size {
		b.refusals.Add(1)
		return fmt.Errorf("%w: %d bytes exceed the whole budget of %d", ErrBusy, n, b.size)
	}
	if !b.sem.TryAcquire(n) {
		b.waits.Add(1)
		wctx, cancel := context.WithTimeout(ctx, b.wait)
		err := b.sem.Acquire(wctx, n)
		cancel()
		if err != nil {
			b.refusals.Add(1)
			return fmt.Errorf("%w: %d bytes waited %v", ErrBusy, n, b.wait)
		}
	}
	u := b.used.Add(n)
	for p := b.peak.Load(); u > p && !b.peak.CompareAndSwap(p, u); p = b.peak.Load() {
	}
	return nil
}

// Release gives back n bytes taken by Acquire.
func (b *Budget) Release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.used.Add(-n)
	b.sem.Release(n)
}

// Stats is a snapshot of the budget.
type Stats struct {
	Size, Used, Peak int64
	Waits, Refusals  int64
}

// Stats returns the budget's size, bytes in use, the highest use seen, and
// how many acquisitions had to wait and how many were refused.
func (b *Budget) Stats() Stats {
	if b == nil {
		return Stats{}
	}
	return Stats{Size: b.size, Used: b.used.Load(), Peak: b.peak.Load(), Waits: b.waits.Load(), Refusals: b.refusals.Load()}
}

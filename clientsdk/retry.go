package clientsdk

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// transient reports whether err may succeed when tried again, on the
// next candidate node: a node that could not be reached (ErrUnavailable),
// a busy node, a node shutting down. Answers about the request itself
// (not found, too large, invalid, corrupt, auth, protocol, settings) and
// the caller's own deadline or cancellation are final.
func transient(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.Is(err, ErrBusy), errors.Is(err, ErrNodeClosing), errors.Is(err, ErrUnavailable):
		return true
	}
	return false
}

// backoff draws full-jitter exponential delays from a seeded source.
type backoff struct {
	mu        sync.Mutex
	rng       *rand.Rand
	base, max time.Duration
}

func newBackoff(seed uint64, base, max time.Duration) *backoff {
	return &backoff{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), base: base, max: max}
}

func (b *backoff) delay(attempt int) time.Duration {
	d := b.base << min(attempt, 20)
	if d <= 0 || d > b.max {
		d = b.max
	}
	if d <= 0 {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return time.Duration(b.rng.Int64N(int64(d) + 1))
}

// wait sleeps d or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

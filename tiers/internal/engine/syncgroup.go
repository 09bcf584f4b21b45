package engine

import (
	"fmt"
	"sync"

	"github.com/stratacache/stratacache/tiers"
)

// syncGroup coalesces the syncs of concurrent callers (group commit): a
// caller whose writes are complete takes a ticket; one caller at a time
// syncs the medium, and a sync that started after a ticket was taken covers
// that ticket's writes, so every caller waiting meanwhile is answered by the
// next sync instead of running its own. With durability sync, N writers
// storing at once cost about one fdatasync per round, not N.
type syncGroup struct {
	mu      sync.Mutex
	issued  uint64        // tickets taken
	covered uint64        // highest ticket a finished sync covered
	running bool          // a sync is under way
	err     error         // a failed sync: the tier is failed for good
	wake    chan struct{} // closed (and replaced) when a sync ends
	syncs   uint64        // medium syncs run
}

// sync makes everything written before the call durable. A failed sync
// fails the tier: the kernel may have dropped the dirty pages it could not
// write, so a retry proves nothing, and every later write is refused
// (fsyncgate). A waiter waits only for a sync under way, which is the same
// medium call it would otherwise make itself.
func (e *Engine) sync() error {
	g := &e.sg
	g.mu.Lock()
	if g.wake == nil {
		g.wake = make(chan struct{})
	}
	g.issued++
	ticket := g.issued
	for {
		if g.err != nil {
			err := g.err
			g.mu.Unlock()
			return fmt.Errorf("%s: %w: %w", e.o.Name, tiers.ErrFailed, err)
		}
		if g.covered >= ticket {
			g.mu.Unlock()
			return nil
		}
		if g.running {
			ch := g.wake
			g.mu.Unlock()
			<-ch
			g.mu.Lock()
			continue
		}
		// Lead a sync: it starts after every ticket issued so far had its
		// writes complete, so it covers them all.
		g.running = true
		target := g.issued
		g.mu.Unlock()
		err := e.m.Sync()
		if err != nil {
			e.fail(fmt.Errorf("sync: %w", err))
		}
		g.mu.Lock()
		g.running = false
		g.syncs++
		if err != nil {
			g.err = err
		} else {
			g.covered = target
		}
		close(g.wake)
		g.wake = make(chan struct{})
	}
}

package actors

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/stratacache/stratacache/tiers"
)

// ErrDegraded answers a call that needs an actor the supervisor could not
// keep alive (it exceeded its restart budget) or a tier that failed for
// good (tiers.ErrFailed). Calls that do not need them keep working; Health
// says what is down.
var ErrDegraded = errors.New("engine: degraded")

// actorHealth is the liveness of one tier or link actor: down is closed
// once the supervisor stopped it for good.
type actorHealth struct {
	name     string
	downOnce sync.Once
	down     chan struct{}
	isDown   atomic.Bool
}

func newActorHealth(name string) actorHealth {
	return actorHealth{name: name, down: make(chan struct{})}
}

func (h *actorHealth) markDown() bool {
	first := false
	h.downOnce.Do(func() {
		first = true
		h.isDown.Store(true)
		close(h.down)
	})
	return first
}

func (h *actorHealth) downErr() error {
	return fmt.Errorf("%w: %s stopped after exceeding its restart budget", ErrDegraded, h.name)
}

// Health is the engine's readiness: Degraded when an actor is down or a
// tier has failed. A node reports it on /readyz.
type Health struct {
	Degraded bool
	// Down names the actors the supervisor stopped for good
	// ("tier cpu", "link cpu->disk").
	Down []string
	// Failed names the tiers that failed for good, with their error.
	Failed []string
}

func (h Health) String() string {
	if !h.Degraded {
		return "ok"
	}
	return fmt.Sprintf("degraded: actors down %v, tiers failed %v", h.Down, h.Failed)
}

// Health reports which actors are down and which tiers have failed.
func (e *Engine) Health() Health {
	var h Health
	for _, st := range e.tiers {
		if st.health.isDown.Load() {
			h.Down = append(h.Down, st.health.name)
		}
		if err, _ := tierFailed(st.tier); err != nil {
			h.Failed = append(h.Failed, fmt.Sprintf("%s: %v", st.tier.Name(), err))
		}
	}
	for _, l := range e.links {
		if l.health.isDown.Load() {
			h.Down = append(h.Down, l.health.name)
		}
	}
	h.Degraded = len(h.Down)+len(h.Failed) > 0
	return h
}

// Degraded is Health().Degraded without building the lists.
func (e *Engine) Degraded() bool {
	if e.actorsDown.Load() > 0 {
		return true
	}
	for _, st := range e.tiers {
		if err, _ := tierFailed(st.tier); err != nil {
			return true
		}
	}
	return false
}

// tierFailed reports a tier's failure (tiers.Failer), and whether its
// medium was fenced so that a reopen refuses it.
func tierFailed(t tiers.Tier) (error, bool) {
	if f, ok := t.(tiers.Failer); ok {
		return f.Failed()
	}
	return nil, false
}

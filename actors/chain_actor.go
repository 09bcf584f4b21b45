package actors

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
)

// spawnChildren asks the ChainActor to start one TierActor per tier and one
// LinkActor per link as its children; the PIDs are written into the states.
type spawnChildren struct {
	reply
}

// chainActor orders the chain: it parents and supervises the tier and link
// actors (its props carry the one-for-one restart strategy) and notices
// when the supervisor stops one for good (it exceeded its restart budget):
// the engine is then degraded, and calls that need that actor fail fast
// with ErrDegraded instead of waiting for an answer that never comes. It
// holds no data; the engine routes operations to its children directly.
type chainActor struct {
	eng     *Engine
	spawned bool
}

func (a *chainActor) Receive(ctx actor.Context) {
	defer answerOnCrash(ctx)
	switch m := ctx.Message().(type) {
	case *spawnChildren:
		if !a.spawned {
			a.spawnAll(ctx)
		}
		m.respond(result{})
	case *actor.Terminated:
		a.onTerminated(m.Who)
	}
}

func (a *chainActor) spawnAll(ctx actor.Context) {
	a.spawned = true
	e := a.eng
	for _, st := range e.tiers {
		st := st
		st.pid = ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return &tierActor{st: st} }))
	}
	for _, l := range e.links {
		l := l
		l.pid = ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return &linkActor{st: l} }))
	}
}

// onTerminated marks a child that stopped while the engine runs as down.
func (a *chainActor) onTerminated(who *actor.PID) {
	e := a.eng
	select {
	case <-e.stopped:
		return // Close stops the children
	default:
	}
	var h *actorHealth
	for _, st := range e.tiers {
		if st.pid != nil && st.pid.Equal(who) {
			h = &st.health
		}
	}
	for _, l := range e.links {
		if l.pid != nil && l.pid.Equal(who) {
			h = &l.health
			// Writers waiting on the link's dirty bound wake up and fail.
			l.release(0)
		}
	}
	if h != nil && h.markDown() {
		e.actorsDown.Add(1)
		e.log.Error("actor stopped for good: engine degraded", slog.String("actor", h.name))
	}
}

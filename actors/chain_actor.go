package actors

import (
	"github.com/asynkron/protoactor-go/actor"
)

// spawnChildren asks the ChainActor to start one TierActor per tier and one
// LinkActor per link as its children; the PIDs are written into the states.
type spawnChildren struct {
	reply
	eng *Engine
}

// chainActor orders the chain: it parents and supervises the tier and link
// actors (its props carry the one-for-one restart strategy). It holds no
// data; the engine routes operations to its children directly.
type chainActor struct{ spawned bool }

func (a *chainActor) Receive(ctx actor.Context) {
	defer answerOnCrash(ctx)
	switch m := ctx.Message().(type) {
	case *spawnChildren:
		if !a.spawned {
			a.spawnAll(ctx, m.eng)
		}
		m.respond(result{})
	}
}

func (a *chainActor) spawnAll(ctx actor.Context, e *Engine) {
	a.spawned = true
	for _, st := range e.tiers {
		st := st
		st.pid = ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return &tierActor{st: st} }))
	}
	for _, l := range e.links {
		l := l
		l.pid = ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return &linkActor{st: l} }))
	}
}

package actors

import (
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// tierState is everything a TierActor knows: promotions into its tier and
// deletes run in the actor; foreground stores call the tier directly. It outlives the actor value: a
// supervisor restart builds a new tierActor around the same tierState, so a
// crash loses no data.
type tierState struct {
	index int
	tier  tiers.Tier
	eng   *Engine
	pid   *actor.PID

	promotions atomic.Uint64
	demotions  atomic.Uint64
	restarts   atomic.Uint64
}

// tierActor is the mailbox around a tierState: Receive is a type switch.
type tierActor struct{ st *tierState }

func (a *tierActor) Receive(ctx actor.Context) {
	defer answerOnCrash(ctx)
	switch m := ctx.Message().(type) {
	case *deleteMsg:
		m.respond(result{Found: a.st.onDelete(m.ID)})
	case *promoteMsg:
		a.st.onPromote(m)
	case *crashMsg:
		panic("tier actor crash requested: " + m.Reason)
	case *actor.Restarting:
		a.st.restarts.Add(1)
	}
}

func (s *tierState) onDelete(id artifact.ID) bool {
	return s.tier.Delete(id)
}

// onPromote copies an artifact up from a lower tier. It is best effort: a
// miss below (evicted meanwhile) or a refusal here is not an error.
func (s *tierState) onPromote(m *promoteMsg) {
	if s.tier.Contains(m.ID) || m.From <= s.index || m.From >= len(s.eng.tiers) {
		return
	}
	v, err := s.eng.tiers[m.From].tier.View(m.ID)
	if err != nil {
		return
	}
	defer v.Release()
	if err := s.tier.Put(m.ID, v.Bytes(), tiers.PutOptions{Meta: v.Meta()}); err == nil {
		s.promotions.Add(1)
	}
}

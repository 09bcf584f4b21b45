package actors

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// tierState is everything a TierActor knows: promotions into its tier run
// in the actor; foreground stores, reads and deletes call the tier
// directly. It outlives the actor value: a supervisor restart builds a new
// tierActor around the same tierState, so a crash loses no data.
type tierState struct {
	index  int
	tier   tiers.Tier
	eng    *Engine
	pid    *actor.PID
	health actorHealth

	promotions atomic.Uint64
	demotions  atomic.Uint64
	restarts   atomic.Uint64
}

// tierActor is the mailbox around a tierState: Receive is a type switch.
type tierActor struct{ st *tierState }

func (a *tierActor) Receive(ctx actor.Context) {
	defer answerOnCrash(ctx)
	switch m := ctx.Message().(type) {
	case *promoteMsg:
		a.st.onPromote(m)
	case *crashMsg:
		panic("tier actor crash requested: " + m.Reason)
	case *actor.Restarting:
		a.st.restarts.Add(1)
	}
}

// onPromote copies an artifact up from a lower tier into this (the top)
// tier. It is best effort: a miss below (evicted meanwhile) or a refusal
// here is not an error. The copy read its source before it writes, so its
// put is guarded (copyGuard): a store or delete of the key that began
// meanwhile wins, and a version this tier already holds (or a newer one) is
// not replaced.
func (s *tierState) onPromote(m *promoteMsg) {
	e := s.eng
	defer e.pendingPromotes.Add(-1)
	if m.From <= s.index || m.From >= len(e.tiers) {
		return
	}
	guard := e.guardCopy(m.ID)
	if s.tier.Contains(m.ID) {
		return
	}
	v, err := e.tiers[m.From].tier.View(m.ID)
	if err != nil {
		return
	}
	defer v.Release()
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.RequestTimeout)
	defer cancel()
	err = s.tier.Put(ctx, m.ID, v.Bytes(), tiers.PutOptions{Meta: v.Meta(), Guard: guard})
	switch {
	case err == nil:
		s.promotions.Add(1)
	case errors.Is(err, tiers.ErrStale):
		e.superseded.Add(1)
	}
}

// Promote copies id from the first lower tier that holds it into the top
// tier, now, and reports whether the top tier holds id afterwards (a
// prefetch). Like a background promotion it is a guarded copy: a store or
// delete of id that began meanwhile wins. Use it rather than a Store of
// what a View returned, which would give an old payload a new version.
func (e *Engine) Promote(ctx context.Context, id artifact.ID) (bool, error) {
	if err := e.check(id); err != nil {
		return false, err
	}
	top := e.tiers[0].tier
	guard := e.guardCopy(id)
	if top.Contains(id) {
		return true, nil
	}
	for i := 1; i < len(e.tiers); i++ {
		v, err := e.tiers[i].tier.View(id)
		if err != nil {
			continue
		}
		err = top.Put(ctx, id, v.Bytes(), tiers.PutOptions{Meta: v.Meta(), Guard: guard})
		v.Release()
		switch {
		case err == nil:
			e.tiers[0].promotions.Add(1)
			return true, nil
		case errors.Is(err, tiers.ErrStale):
			e.superseded.Add(1)
			return top.Contains(id), nil
		default:
			return false, err
		}
	}
	return false, nil
}

package actors

import (
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// ErrActorCrashed answers a request whose actor panicked while handling it.
// The actor itself is restarted by its supervisor with its state intact.
var ErrActorCrashed = errors.New("engine: actor crashed")

// answerOnCrash is deferred by every Receive: if the handler panics, the
// waiting sender gets ErrActorCrashed instead of waiting forever, and the
// panic continues to the mailbox so the supervisor restarts the actor.
func answerOnCrash(ctx actor.Context) {
	if r := recover(); r != nil {
		if rp, ok := ctx.Message().(replier); ok {
			rp.respond(result{Err: fmt.Errorf("%w: %v", ErrActorCrashed, r)})
		}
		panic(r)
	}
}

// supervisor restarts a failed child in place (one-for-one). Tier and link
// state live outside the actor values, so a restart loses nothing; the
// bound on restarts (maxRestarts within window) stops a poisoned actor from
// spinning forever: past it the child is stopped, and the chain actor marks
// it down (Engine.Health).
func supervisor(maxRestarts int, window time.Duration) actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(maxRestarts, window, func(reason interface{}) actor.Directive {
		return actor.RestartDirective
	})
}

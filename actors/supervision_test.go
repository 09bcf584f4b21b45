package actors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/tiertest"
)

// crash makes an actor panic in its handler and returns the reply's error.
func crash(t *testing.T, e *Engine, h *actorHealth, pid interface{}) error {
	t.Helper()
	c := &crashMsg{reply: newReply(), Reason: "test"}
	switch p := pid.(type) {
	case *tierState:
		_, err := e.request(context.Background(), h, p.pid, c, c.done)
		return err
	case *linkState:
		_, err := e.request(context.Background(), h, p.pid, c, c.done)
		return err
	}
	return nil
}

// An actor that keeps failing past its restart budget is stopped for good.
// Calls that need it must fail fast with ErrDegraded (a minute-long context
// that expired would show as a hang), the others keep working, and Health
// and Stats report it.
func TestActorPastRestartBudgetDegradesInsteadOfWedging(t *testing.T) {
	t0, t1 := tiertest.New("t0", 4000), tiertest.New("t1", 1<<20)
	e, err := NewEngine(Config{
		Tiers: []tiers.Tier{t0, t1}, Links: []LinkConfig{wb(1 << 20)}, PromoteOnHit: true,
		MaxRestarts: 3, RestartWindow: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	keep := payload(1, 1000)
	if err := e.Store(ctx, id("keep"), keep, StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if h := e.Health(); h.Degraded {
		t.Fatalf("healthy engine reports %v", h)
	}
	l := e.links[0]
	// Three restarts are within the budget; the fourth failure stops it.
	for i := 0; i < 4; i++ {
		if err := crash(t, e, &l.health, l); !errors.Is(err, ErrActorCrashed) {
			t.Fatalf("crash %d: %v", i, err)
		}
	}
	waitFor(t, "the link to be marked down", func() bool { return e.Health().Degraded })
	h := e.Health()
	if len(h.Down) != 1 || h.Down[0] != "link t0->t1" {
		t.Fatalf("health: %+v", h)
	}
	var st EngineStats
	e.Stats(&st)
	if !st.Degraded || st.ActorsDown != 1 || !st.Links[0].Down {
		t.Fatalf("stats: degraded %v, down %d, link %+v", st.Degraded, st.ActorsDown, st.Links[0])
	}
	// Needs the link: a write-back store, a flush, a request to the actor.
	if err := e.Store(ctx, id("new"), payload(2, 1000), StoreOptions{}); !errors.Is(err, ErrDegraded) {
		t.Fatalf("write-back store through a dead link: %v", err)
	}
	if err := e.Flush(ctx); !errors.Is(err, ErrDegraded) {
		t.Fatalf("flush through a dead link: %v", err)
	}
	if err := crash(t, e, &l.health, l); !errors.Is(err, ErrDegraded) {
		t.Fatalf("request to a dead actor: %v", err)
	}
	// Does not need it: loads, deletes, stores into the tier below, and
	// evictions of the top tier (victims the link cannot take are dropped
	// and counted, never waited for).
	if got, err := e.Load(ctx, nil, id("keep"), Chain()); err != nil || !bytes.Equal(got, keep) {
		t.Fatalf("load on a degraded engine: %v", err)
	}
	if err := e.Store(ctx, id("low"), payload(3, 1000), StoreOptions{Access: Exact("t1")}); err != nil {
		t.Fatalf("exact store into the lower tier: %v", err)
	}
	for i := 0; i < 6; i++ {
		if err := e.Store(ctx, id(fmt.Sprint("top", i)), payload(int64(10+i), 1000), StoreOptions{Access: Exact("t0")}); err != nil {
			t.Fatalf("exact store into the top tier: %v", err)
		}
	}
	e.Stats(&st)
	if st.EvictionsLost == 0 {
		t.Fatal("top-tier victims were not dropped while the link is down")
	}
	if found, err := e.Delete(ctx, id("low")); err != nil || !found {
		t.Fatalf("delete on a degraded engine: %v %v", found, err)
	}
	if err := ctx.Err(); err != nil {
		t.Fatalf("the calls above waited out the deadline: %v", err)
	}
}

// The top tier's actor past its budget only costs promotions.
func TestTierActorDownSkipsPromotions(t *testing.T) {
	e, err := NewEngine(Config{
		Tiers: []tiers.Tier{tiertest.New("t0", 1<<20), tiertest.New("t1", 1<<20)}, Links: []LinkConfig{wt()},
		PromoteOnHit: true, MaxRestarts: 1, RestartWindow: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	st := e.tiers[0]
	for i := 0; i < 2; i++ {
		if err := crash(t, e, &st.health, st); !errors.Is(err, ErrActorCrashed) {
			t.Fatalf("crash %d: %v", i, err)
		}
	}
	waitFor(t, "the tier actor to be marked down", func() bool { return e.Health().Degraded })
	p := payload(4, 2000)
	if err := e.Store(ctx, id("low"), p, StoreOptions{Access: Exact("t1")}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if got, err := e.Load(ctx, nil, id("low"), Chain()); err != nil || !bytes.Equal(got, p) {
			t.Fatalf("load: %v", err)
		}
	}
	var es EngineStats
	e.Stats(&es)
	if es.Tiers[0].Promotions != 0 || es.PendingPromotes != 0 {
		t.Fatalf("promotions sent to a dead actor: %+v pending %d", es.Tiers[0], es.PendingPromotes)
	}
	if err := e.Store(ctx, id("top"), p, StoreOptions{}); err != nil {
		t.Fatalf("store: %v", err)
	}
}

// A writer whose store evicts a victim waits for the link to demote it, but
// not forever: when the link is stuck (here: its flush is blocked in the
// lower tier), the writer gives the victim up after RequestTimeout and
// continues; the victim is counted as lost and its view released.
func TestEvictionWaitIsBounded(t *testing.T) {
	t0, t1 := tiertest.New("t0", 2000), tiertest.New("t1", 1<<20)
	e, err := NewEngine(Config{Tiers: []tiers.Tier{t0, t1}, Links: []LinkConfig{wb(1 << 20)}, RequestTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	h := newHoldOnce()
	defer func() {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
	}()
	t1.SetPutFault(h.fault)
	if err := e.Store(ctx, id("a"), payload(1, 1000), StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	// The flush of a blocks in t1's put: the link actor is stuck.
	go func() { _ = e.Flush(ctx) }()
	<-h.entered
	if err := e.Store(ctx, id("b"), payload(2, 1000), StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	// c evicts a (t0 holds two): its demotion is queued behind the stuck
	// flush, so the writer gives it up.
	if err := e.Store(ctx, id("c"), payload(3, 1000), StoreOptions{}); err != nil {
		t.Fatalf("a store whose eviction cannot be demoted: %v", err)
	}
	var st EngineStats
	e.Stats(&st)
	if st.EvictionsLost == 0 {
		t.Fatal("the victim was not given up")
	}
	close(h.release)
}

// A handler that panics releases what it held: a markDirty that panics
// before recording its entry gives the reserved bytes back.
func TestPanicInMarkDirtyReturnsTheReservation(t *testing.T) {
	e, _ := newEngine(t, []int64{1 << 20, 1 << 20}, []LinkConfig{wb(1 << 20)}, false)
	l := e.links[0]
	if err := l.reserve(context.Background(), 4096); err != nil {
		t.Fatal(err)
	}
	before := l.boundBytes()
	l.dirty = nil // writing to a nil map panics inside onMarkDirty
	func() {
		defer func() { _ = recover() }()
		l.onMarkDirty(&markDirtyMsg{ID: id("x"), Size: 4096, Version: 1})
	}()
	if got := l.boundBytes(); got != before-4096 {
		t.Fatalf("dirty bound after a panicking markDirty: %d, want %d", got, before-4096)
	}
	l.dirty = map[uint64]*dirtyEntry{}
}

// A tier that failed for good (a failed fsync): a store that must remove an
// older copy from it proceeds only if the tier was fenced (a reopen will
// refuse it, so nothing it holds can be served again); unfenced, the store
// fails with ErrDegraded rather than leave an older copy that a restart
// could serve. Either way the engine reports it.
func TestFailedTierDegradesTheEngine(t *testing.T) {
	for _, fenced := range []bool{true, false} {
		t.Run(fmt.Sprintf("fenced=%v", fenced), func(t *testing.T) {
			e, f := newEngine(t, []int64{1 << 20, 1 << 20}, []LinkConfig{wb(1 << 20)}, false)
			ctx := context.Background()
			f[1].SetFailed(errors.New("sync: input/output error"), fenced)
			if h := e.Health(); !h.Degraded || len(h.Failed) != 1 {
				t.Fatalf("health: %+v", h)
			}
			err := e.Store(ctx, id("k"), payload(1, 1000), StoreOptions{})
			if fenced && err != nil {
				t.Fatalf("store over a fenced failed tier: %v", err)
			}
			if !fenced && !errors.Is(err, ErrDegraded) {
				t.Fatalf("store over an unfenced failed tier: %v", err)
			}
			if _, err := e.Load(ctx, nil, id("k"), Chain()); err != nil {
				t.Fatalf("load from the top tier: %v", err)
			}
		})
	}
}

// Close refuses new stores and deletes at once, waits for the ones in
// flight (a put held inside a tier here) and closes the tiers only after
// them; a store that was waiting behind one for its key's lock is refused.
func TestCloseWaitsForWritersInFlight(t *testing.T) {
	e, f := newEngine(t, []int64{1 << 20}, nil, false)
	ctx := context.Background()
	h := newHoldOnce()
	f[0].SetPutFault(h.fault)
	held, p := id("held"), payload(1, 100)
	stored := make(chan error, 1)
	go func() { stored <- e.Store(ctx, held, p, StoreOptions{}) }()
	<-h.entered
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	waitFor(t, "Close to begin", e.closed.Load)
	if err := e.Store(ctx, id("late"), p, StoreOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("store after Close began: %v, want ErrClosed", err)
	}
	if _, err := e.Delete(ctx, held); !errors.Is(err, ErrClosed) {
		t.Fatalf("delete after Close began: %v, want ErrClosed", err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a store was in flight", err)
	default:
	}
	close(h.release)
	if err := <-stored; err != nil {
		t.Fatalf("the store in flight: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("close: %v", err)
	}
	if !f[0].Holds(held, p) {
		t.Fatal("the store in flight did not land before the tier closed")
	}
}

// Close gives up on writers in flight when its context ends, and says so.
func TestCloseReportsWritersInFlightPastItsContext(t *testing.T) {
	e, f := newEngine(t, []int64{1 << 20}, nil, false)
	h := newHoldOnce()
	f[0].SetPutFault(h.fault)
	stored := make(chan error, 1)
	go func() { stored <- e.Store(context.Background(), id("held"), payload(1, 100), StoreOptions{}) }()
	<-h.entered
	ctx, cancel := context.WithCancel(context.Background())
	closed := make(chan error, 1)
	go func() { closed <- e.CloseContext(ctx) }()
	waitFor(t, "Close to begin", e.closed.Load)
	cancel()
	err := <-closed
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "still in flight") {
		t.Fatalf("close: %v, want the writer in flight reported", err)
	}
	close(h.release)
	<-stored // its tier is closed under it: any answer, but an answer
}

package cluster

import (
	"context"
	"math/rand"
	"sync"
	"time"

	"github.com/stratacache/stratacache/artifact"
)

// FleetFailure is bench fleet's failure detection (issue 13, item 7): for
// each node the churn kills (a crash: no leave), the time from the kill
// until every survivor's membership has marked it dead (its reads no
// longer go there), and until lookups from survivors no longer list it as
// a holder of what it held (its directory replicas dropped its holders).
// p50 and max are over the killed nodes.
type FleetFailure struct {
	Killed            int     `json:"killed"`
	MembersDeadP50    float64 `json:"members_dead_p50_s"`
	MembersDeadMax    float64 `json:"members_dead_max_s"`
	HoldersDroppedP50 float64 `json:"holders_dropped_p50_s"`
	HoldersDroppedMax float64 `json:"holders_dropped_max_s"`
	// Unresolved: killed nodes still listed when the watch gave up (its
	// figures then stop at the deadline).
	Unresolved int `json:"unresolved"`
	// LookupErrors: the watch's lookups that failed (each counted as
	// "still listed" for that poll).
	LookupErrors int `json:"lookup_errors"`
}

// failureWatch times killed nodes' detection while the churn goes on.
type failureWatch struct {
	mu      sync.Mutex
	victims []*watchedVictim
	errs    int // lookups that failed (run's goroutine only)
}

type watchedVictim struct {
	name    string
	killed  time.Time
	sample  []artifact.ID // artifacts it held when killed
	dead    time.Duration // 0: not yet
	dropped time.Duration
	// clear counts consecutive lookups (from different survivors) that
	// did not list the victim, since clearAt: four resolve it at clearAt.
	clear   int
	clearAt time.Duration
}

// killed records that victim is about to be killed; call it just before.
func (w *failureWatch) killed(victim *Node, rng *rand.Rand) {
	var held []uint64
	victim.holdings.each(func(recs []Record) {
		for _, r := range recs {
			held = append(held, r.Hash)
		}
	})
	rng.Shuffle(len(held), func(i, j int) { held[i], held[j] = held[j], held[i] })
	var sample []artifact.ID
	for _, h := range held[:min(16, len(held))] {
		sample = append(sample, artifact.ID{Namespace: artifact.NamespaceKV, Hash: h})
	}
	w.mu.Lock()
	w.victims = append(w.victims, &watchedVictim{name: victim.Name(), killed: time.Now(), sample: sample})
	w.mu.Unlock()
}

// run polls until every victim is resolved on every survivor or within
// passes; survivors returns the live nodes (the churn's joins included:
// a new member never listed the victim). Membership is read every 20 ms
// (local reads); the lookups, which cost the cluster RPCs while the churn
// runs, every 200 ms from one survivor in turn, and the holders count as
// dropped from the first of four lookups in a row (four survivors) that
// did not list the victim: the figures are at those resolutions (plus a
// lookup's latency).
func (w *failureWatch) run(survivors func() []*Node, within time.Duration) FleetFailure {
	deadline := time.Now().Add(within)
	w.mu.Lock()
	vs := append([]*watchedVictim(nil), w.victims...)
	w.mu.Unlock()
	// Two loops, so that a lookup stuck on a dead replica (up to its
	// timeout) does not delay the membership reads. Each victim's dead is
	// written by the first loop only, dropped (and clear) by the second.
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		poll(20*time.Millisecond, deadline, func(int) bool {
			live, open := survivors(), false
			for _, v := range vs {
				if v.dead == 0 && !anyLists(live, v.name) {
					v.dead = time.Since(v.killed)
				}
				open = open || v.dead == 0
			}
			return open
		})
	}()
	go func() {
		defer wg.Done()
		poll(200*time.Millisecond, deadline, func(ask int) bool {
			live, open := survivors(), false
			for _, v := range vs {
				if v.dropped != 0 {
					continue
				}
				switch {
				case w.anyOffers(live, v, ask):
					v.clear = 0
				case v.clear == 0:
					v.clear, v.clearAt = 1, time.Since(v.killed)
				default:
					v.clear++
				}
				if v.clear == 4 {
					v.dropped = v.clearAt
				}
				open = open || v.dropped == 0
			}
			return open
		})
	}()
	wg.Wait()
	return w.result(vs)
}

// poll calls step (with its round number) every period until it returns
// false or the deadline passes.
func poll(period time.Duration, deadline time.Time, step func(round int) bool) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for round := 0; step(round) && time.Now().Before(deadline); round++ {
		<-tick.C
	}
}

func (w *failureWatch) result(vs []*watchedVictim) FleetFailure {
	r := FleetFailure{Killed: len(vs), LookupErrors: w.errs}
	var dead, dropped []float64
	for _, v := range vs {
		if v.dead == 0 || v.dropped == 0 {
			r.Unresolved++
			now := time.Since(v.killed)
			if v.dead == 0 {
				v.dead = now
			}
			if v.dropped == 0 {
				v.dropped = now
			}
		}
		dead = append(dead, v.dead.Seconds())
		dropped = append(dropped, v.dropped.Seconds())
	}
	r.MembersDeadP50, r.HoldersDroppedP50 = pct(dead, 50), pct(dropped, 50)
	r.MembersDeadMax, r.HoldersDroppedMax = pct(dead, 100), pct(dropped, 100)
	return r
}

// anyLists reports whether a survivor's membership still lists name.
func anyLists(live []*Node, name string) bool {
	for _, n := range live {
		for _, m := range n.Members() {
			if m.Name == name {
				return true
			}
		}
	}
	return false
}

// anyOffers reports whether a lookup of the victim's sample, asked from a
// survivor (rotating with ask), still lists it as a holder. A lookup that
// fails counts as listing (not resolved yet).
func (w *failureWatch) anyOffers(live []*Node, v *watchedVictim, ask int) bool {
	if len(v.sample) == 0 || len(live) == 0 {
		return false
	}
	n := live[ask%len(live)]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	out, err := n.Lookup(ctx, v.sample)
	cancel()
	if err != nil {
		w.errs++
		return true
	}
	for _, owners := range out {
		for _, o := range owners {
			if o.Node == v.name {
				return true
			}
		}
	}
	return false
}

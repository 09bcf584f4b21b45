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
// a new member never listed the victim). Poll period 20 ms, so the
// figures are at that resolution (plus a lookup's latency).
func (w *failureWatch) run(survivors func() []*Node, within time.Duration) FleetFailure {
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for ask := 0; ; ask++ {
		w.mu.Lock()
		vs := append([]*watchedVictim(nil), w.victims...)
		w.mu.Unlock()
		open := 0
		live := survivors()
		for _, v := range vs {
			if v.dead == 0 && !anyLists(live, v.name) {
				v.dead = time.Since(v.killed)
			}
			if v.dropped == 0 && !w.anyOffers(live, v, ask) {
				v.dropped = time.Since(v.killed)
			}
			if v.dead == 0 || v.dropped == 0 {
				open++
			}
		}
		if open == 0 || time.Now().After(deadline) {
			return w.result(vs)
		}
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

// anyOffers reports whether a lookup of the victim's sample, asked from
// four survivors (rotating with ask), still lists it as a holder. A
// lookup that fails counts as listing (not resolved yet).
func (w *failureWatch) anyOffers(live []*Node, v *watchedVictim, ask int) bool {
	if len(v.sample) == 0 || len(live) == 0 {
		return false
	}
	for i := 0; i < min(4, len(live)); i++ {
		n := live[(ask*4+i)%len(live)]
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
	}
	return false
}

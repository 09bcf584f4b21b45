package simulations

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// NodeState is what a router sees of one node when a request arrives.
type NodeState struct {
	// QueueSec is the prefill work queued ahead of the request.
	QueueSec float64
	// Requests routed to the node so far.
	Requests int
}

// PrefixScorer reports, for each node, how many leading blocks of a
// request the node holds. The clientsdk scorer is meant to satisfy it once
// it exists; CacheScorer is the stand-in.
type PrefixScorer interface {
	Score(blocks []uint32, dst []int) []int
}

// CacheScorer is the stand-in prefix scorer: it reads the simulated nodes'
// caches directly, i.e. it knows exactly what every node holds (a real
// scheduler learns it from the ownership directory, with some lag).
type CacheScorer struct {
	Nodes []*PolicyCache
}

// Score implements PrefixScorer.
func (s CacheScorer) Score(blocks []uint32, dst []int) []int {
	dst = dst[:0]
	for _, c := range s.Nodes {
		h := 0
		for h < len(blocks) && c.Contains(blocks[h]) {
			h++
		}
		dst = append(dst, h)
	}
	return dst
}

// Router picks the node for a request.
type Router interface {
	Name() string
	// Route returns a node index for the request blocks of input tokens
	// given the nodes' states and prefix scores (scores may be nil for
	// routers that do not use them).
	Route(blocks []uint32, nodes []NodeState, scores []int) int
	// NeedsScores tells the simulator to compute prefix scores.
	NeedsScores() bool
}

// Routers lists the router names NewRouter accepts.
var Routers = []string{"random", "round-robin", "least-loaded", "prefix", "prefix-load"}

// NewRouter builds a router by name; seed drives "random". blockSec is the
// prefill time of one block (prefix-load trades cached blocks against
// queued seconds with it).
func NewRouter(name string, seed uint64, blockSec float64) (Router, error) {
	switch strings.ToLower(name) {
	case "random":
		return &randomRouter{r: rand.New(rand.NewPCG(seed, 0x5eed))}, nil
	case "round-robin", "rr":
		return &roundRobin{}, nil
	case "least-loaded", "ll":
		return leastLoaded{}, nil
	case "prefix", "prefix-aware":
		return prefixRouter{}, nil
	case "prefix-load", "prefix+load":
		return prefixLoad{blockSec: blockSec}, nil
	}
	return nil, fmt.Errorf("%w: router %q (want %s)", ErrConfig, name, strings.Join(Routers, ", "))
}

type randomRouter struct{ r *rand.Rand }

func (r *randomRouter) Name() string      { return "random" }
func (r *randomRouter) NeedsScores() bool { return false }
func (r *randomRouter) Route(_ []uint32, nodes []NodeState, _ []int) int {
	return r.r.IntN(len(nodes))
}

type roundRobin struct{ next int }

func (r *roundRobin) Name() string      { return "round-robin" }
func (r *roundRobin) NeedsScores() bool { return false }
func (r *roundRobin) Route(_ []uint32, nodes []NodeState, _ []int) int {
	n := r.next % len(nodes)
	r.next = n + 1
	return n
}

// lessLoaded orders nodes by queued work, then by requests served, then by
// index.
func lessLoaded(a, b NodeState) bool {
	if a.QueueSec != b.QueueSec {
		return a.QueueSec < b.QueueSec
	}
	return a.Requests < b.Requests
}

type leastLoaded struct{}

func (leastLoaded) Name() string      { return "least-loaded" }
func (leastLoaded) NeedsScores() bool { return false }
func (leastLoaded) Route(_ []uint32, nodes []NodeState, _ []int) int {
	best := 0
	for i := 1; i < len(nodes); i++ {
		if lessLoaded(nodes[i], nodes[best]) {
			best = i
		}
	}
	return best
}

// prefixRouter sends a request to the node with the longest cached
// prefix; ties go to the less loaded node.
type prefixRouter struct{}

func (prefixRouter) Name() string      { return "prefix" }
func (prefixRouter) NeedsScores() bool { return true }
func (prefixRouter) Route(_ []uint32, nodes []NodeState, scores []int) int {
	best := 0
	for i := 1; i < len(nodes); i++ {
		if scores[i] > scores[best] || (scores[i] == scores[best] && lessLoaded(nodes[i], nodes[best])) {
			best = i
		}
	}
	return best
}

// prefixLoad minimises the estimated time to first token: queued work plus
// the prefill of the blocks the node lacks.
type prefixLoad struct{ blockSec float64 }

func (prefixLoad) Name() string      { return "prefix-load" }
func (prefixLoad) NeedsScores() bool { return true }
func (p prefixLoad) Route(blocks []uint32, nodes []NodeState, scores []int) int {
	best, bestCost := 0, 0.0
	for i := range nodes {
		cost := nodes[i].QueueSec + float64(len(blocks)-scores[i])*p.blockSec
		if i == 0 || cost < bestCost || (cost == bestCost && lessLoaded(nodes[i], nodes[best])) {
			best, bestCost = i, cost
		}
	}
	return best
}

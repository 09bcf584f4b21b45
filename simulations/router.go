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
	// CachedTokens and Score come from clientsdk's Index.ScoreNodes over
	// what the router knows (see Knowledge), for routers that use them:
	// the tokens of the request's cached prefix the node holds itself
	// (Score.LocalTokens), and those tokens minus the queue converted to
	// tokens at the prefill rate (Score.Score with Member.Load = QueueSec
	// and LoadWeight = prefill tokens per second).
	CachedTokens int
	Score        float64
}

// Router picks the node for a request.
type Router interface {
	Name() string
	// Route returns a node index given the nodes' states.
	Route(nodes []NodeState) int
	// NeedsScores tells the simulator to score the request with the
	// clientsdk scorer before routing.
	NeedsScores() bool
}

// Routers lists the router names NewRouter accepts.
var Routers = []string{"random", "round-robin", "least-loaded", "prefix", "prefix-load"}

// NewRouter builds a router by name; seed drives "random".
func NewRouter(name string, seed uint64) (Router, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "random":
		return &randomRouter{r: rand.New(rand.NewPCG(seed, 0x5eed))}, nil
	case "round-robin", "rr":
		return &roundRobin{}, nil
	case "least-loaded", "ll":
		return leastLoaded{}, nil
	case "prefix", "prefix-aware":
		return prefixRouter{}, nil
	case "prefix-load", "prefix+load":
		return prefixLoad{}, nil
	}
	return nil, fmt.Errorf("%w: router %q (want %s)", ErrConfig, name, strings.Join(Routers, ", "))
}

type randomRouter struct{ r *rand.Rand }

func (r *randomRouter) Name() string      { return "random" }
func (r *randomRouter) NeedsScores() bool { return false }
func (r *randomRouter) Route(nodes []NodeState) int {
	return r.r.IntN(len(nodes))
}

type roundRobin struct{ next int }

func (r *roundRobin) Name() string      { return "round-robin" }
func (r *roundRobin) NeedsScores() bool { return false }
func (r *roundRobin) Route(nodes []NodeState) int {
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
func (leastLoaded) Route(nodes []NodeState) int {
	best := 0
	for i := 1; i < len(nodes); i++ {
		if lessLoaded(nodes[i], nodes[best]) {
			best = i
		}
	}
	return best
}

// prefixRouter sends a request to the node believed to hold the longest
// cached prefix; ties go to the less loaded node.
type prefixRouter struct{}

func (prefixRouter) Name() string      { return "prefix" }
func (prefixRouter) NeedsScores() bool { return true }
func (prefixRouter) Route(nodes []NodeState) int {
	best := 0
	for i := 1; i < len(nodes); i++ {
		a, b := nodes[i], nodes[best]
		if a.CachedTokens > b.CachedTokens || (a.CachedTokens == b.CachedTokens && lessLoaded(a, b)) {
			best = i
		}
	}
	return best
}

// prefixLoad takes the best clientsdk score: cached tokens minus queued
// work in tokens, i.e. the least estimated time to first token (queue
// plus the prefill of what the node lacks).
type prefixLoad struct{}

func (prefixLoad) Name() string      { return "prefix-load" }
func (prefixLoad) NeedsScores() bool { return true }
func (prefixLoad) Route(nodes []NodeState) int {
	best := 0
	for i := 1; i < len(nodes); i++ {
		a, b := nodes[i], nodes[best]
		if a.Score > b.Score || (a.Score == b.Score && lessLoaded(a, b)) {
			best = i
		}
	}
	return best
}

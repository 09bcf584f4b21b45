package simulations

import (
	"container/heap"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"strconv"

	"github.com/stratacache/stratacache/clientsdk"
)

// Knowledge is what the routers of a multi-node run know of the nodes'
// caches. They route with clientsdk's Index and ScoreNodes (the code a
// scheduler embeds), and the index is fed the way a scheduler's is: by
// ownership updates from the nodes, one per stored or evicted block,
// published when the request that caused it finishes its prefill.
//
// The zero Knowledge is a directory that reaches the routers at once and
// loses nothing (still not perfect: a block stored by a request still in
// prefill is not known yet, and the index keeps one owner per block, as
// clientsdk's does).
type Knowledge struct {
	// LagSec delays every update by this many seconds of trace time.
	LagSec float64 `json:"lag_seconds"`
	// Drop is the share of updates lost on the way (never resent).
	Drop float64 `json:"drop"`
	// FPR models per-node summaries (compact filters) instead of an exact
	// index: a node's summary also claims, with this probability, each
	// block it does not hold (a filter's false positive, fixed per node
	// and block). A claimed block that the index has no owner for counts
	// as the claiming node's while a request is scored.
	FPR float64 `json:"false_positive_rate"`
	// Seed drives the drops and the false positives.
	Seed uint64 `json:"-"`
}

// Validate reports a knowledge model that cannot be simulated.
func (k Knowledge) Validate() error {
	switch {
	case k.LagSec < 0 || math.IsNaN(k.LagSec) || math.IsInf(k.LagSec, 0):
		return fmt.Errorf("%w: lag %g s", ErrConfig, k.LagSec)
	case !(k.Drop >= 0 && k.Drop <= 1):
		return fmt.Errorf("%w: drop share %g (want 0..1)", ErrConfig, k.Drop)
	case !(k.FPR >= 0 && k.FPR <= 1):
		return fmt.Errorf("%w: false-positive rate %g (want 0..1)", ErrConfig, k.FPR)
	}
	return nil
}

// update is one ownership change a node publishes.
type update struct {
	at   float64 // trace seconds when it was published
	seq  uint64
	node int
	b    uint32
	put  bool
}

type updateHeap []update

func (h updateHeap) Len() int { return len(h) }
func (h updateHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h updateHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *updateHeap) Push(x any)   { *h = append(*h, x.(update)) }
func (h *updateHeap) Pop() any {
	old := *h
	u := old[len(old)-1]
	*h = old[:len(old)-1]
	return u
}

// maxNodes bounds multi-node runs (the router's view keeps a 64-bit holder
// set per block).
const maxNodes = 64

// routerView is the routers' knowledge: a clientsdk.Index fed by delayed,
// lossy updates, plus, per block, the set of nodes the updates said hold
// it (what a Follower keeps per member, used to name another owner when
// the indexed one drops a block).
type routerView struct {
	k       Knowledge
	ix      *clientsdk.Index
	names   []string
	slot    map[string]int
	holders []uint64
	pending updateHeap
	seq     uint64
	rng     *rand.Rand
	fpCut   uint64
	prompt  clientsdk.Prompt
	scores  []clientsdk.Score
	claimed []uint64 // ids put for false positives while scoring
	// Sent and Dropped count the updates.
	Sent, Dropped int
}

func newRouterView(nodes, numBlocks int, k Knowledge, prefillTPS float64) *routerView {
	var cfg clientsdk.ScoreConfig
	// A node's own cached token saves one token of prefill; the simulated
	// nodes do not read each other's caches, so a block held elsewhere is
	// worth nothing; a second of queued work costs a second of prefill.
	cfg.TierWeights[clientsdk.TierCPU] = 1
	cfg.LoadWeight = prefillTPS
	v := &routerView{
		k:       k,
		ix:      clientsdk.NewIndex(cfg),
		slot:    map[string]int{},
		holders: make([]uint64, numBlocks+1),
		rng:     rand.New(rand.NewPCG(k.Seed, 0xD12EC7)),
	}
	if k.FPR >= 1 {
		v.fpCut = math.MaxUint64
	} else {
		v.fpCut = uint64(k.FPR * (1 << 63) * 2)
	}
	ms := make([]clientsdk.Member, nodes)
	for i := range ms {
		name := "n" + strconv.Itoa(i)
		v.names = append(v.names, name)
		v.slot[name] = i
		ms[i] = clientsdk.Member{Name: name}
	}
	v.ix.SetMembers(ms)
	return v
}

// blockID is the artifact id hash the index keys block b by: its top 40
// bits (what the index compares) are b itself, so ids never collide.
func blockID(b uint32) uint64 { return uint64(b) << 24 }

// publish queues an update from node at trace time at; a dropped one is
// counted and forgotten.
func (v *routerView) publish(at float64, node int, b uint32, put bool) {
	v.Sent++
	if v.k.Drop > 0 && v.rng.Float64() < v.k.Drop {
		v.Dropped++
		return
	}
	v.seq++
	heap.Push(&v.pending, update{at: at + v.k.LagSec, seq: v.seq, node: node, b: b, put: put})
}

// advance applies every update that has reached the routers by now.
func (v *routerView) advance(now float64) {
	for len(v.pending) > 0 && v.pending[0].at <= now {
		u := heap.Pop(&v.pending).(update)
		bit := uint64(1) << u.node
		if u.put {
			v.holders[u.b] |= bit
			v.ix.Put(v.names[u.node], blockID(u.b), clientsdk.TierCPU) // the newest owner wins
			continue
		}
		v.holders[u.b] &^= bit
		if owner, _, ok := v.ix.Owner(blockID(u.b)); ok && owner == v.names[u.node] {
			v.ix.Delete(blockID(u.b))
			if h := v.holders[u.b]; h != 0 {
				// Another node still holds it: its next directory sync
				// would name it.
				v.ix.Put(v.names[bits.TrailingZeros64(h)], blockID(u.b), clientsdk.TierCPU)
			}
		}
	}
}

// falsePositive reports whether node's summary wrongly claims block b.
func (v *routerView) falsePositive(node int, b uint32) bool {
	x := v.k.Seed ^ uint64(node)<<40 ^ uint64(b)*0x9E3779B97F4A7C15
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x < v.fpCut
}

// score fills nodes' CachedTokens and Score for the request blocks of
// input tokens (the last block may be partial), with QueueSec as load.
func (v *routerView) score(blocks []uint32, input uint32, blockTokens int, nodes []NodeState) {
	for i := range nodes {
		v.ix.SetLoad(v.names[i], nodes[i].QueueSec)
	}
	lv := clientsdk.Level{BlockSize: blockTokens}
	if len(v.prompt.Levels) == 1 {
		lv.IDs = v.prompt.Levels[0].IDs[:0]
	}
	for _, b := range blocks {
		lv.IDs = append(lv.IDs, blockID(b))
	}
	if n := len(blocks); n > 0 {
		lv.LastTokens = int(blockTokens)
		if rest := int(input) - (n-1)*blockTokens; input > 0 && rest > 0 && rest < blockTokens {
			lv.LastTokens = rest
		}
	}
	v.prompt.Tokens = int(input)
	v.prompt.Levels = append(v.prompt.Levels[:0], lv)
	if v.k.FPR > 0 {
		v.claimFalsePositives(blocks, len(nodes))
	}
	v.scores = v.ix.ScoreNodes(v.scores[:0], &v.prompt, v.names)
	for _, id := range v.claimed {
		v.ix.Delete(id)
	}
	v.claimed = v.claimed[:0]
	for i := range nodes {
		nodes[i].CachedTokens = v.scores[i].LocalTokens
		nodes[i].Score = v.scores[i].Score
	}
}

// claimFalsePositives puts, for the leading blocks of a request that the
// index has no owner for, a node whose summary falsely claims the block; scoring stops at the first block nobody claims.
func (v *routerView) claimFalsePositives(blocks []uint32, nodes int) {
	for _, b := range blocks {
		if _, _, ok := v.ix.Owner(blockID(b)); ok {
			continue
		}
		claimed := false
		first := int(b) % nodes // no node first for every block
		for j := 0; j < nodes && !claimed; j++ {
			if k := (first + j) % nodes; v.falsePositive(k, b) {
				v.ix.Put(v.names[k], blockID(b), clientsdk.TierCPU)
				v.claimed = append(v.claimed, blockID(b))
				claimed = true
			}
		}
		if !claimed {
			return
		}
	}
}

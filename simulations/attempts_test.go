package simulations

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stratacache/stratacache/simulations/trace"
	"github.com/stratacache/stratacache/simulations/workload"
	"github.com/stratacache/stratacache/tiers/eviction"
	"github.com/stratacache/stratacache/tiers/eviction/duel"
)

// The held-out protocol (docs/SIMULATIONS.md, "Held-out evaluation"):
// tunable parameters are chosen on generated training traces only, every
// workload family at the training seeds; the figures are then reported on
// the two shared traces and on the families at seeds never used here.
var (
	trainingSeeds     = []uint64{1, 2}
	trainingFractions = []float64{0.01, 0.02, 0.05, 0.1, 0.2}
)

func trainingTraces(tb testing.TB) []*trace.Trace {
	var out []*trace.Trace
	for _, kind := range []string{workload.KindChat, workload.KindAgent, workload.KindSysPrompt, workload.KindDocs, workload.KindMix} {
		for _, s := range trainingSeeds {
			tr := generated(tb, kind, s, 10000)
			tr.Name = fmt.Sprintf("%s-s%d", kind, s)
			out = append(out, tr)
		}
	}
	return out
}

// attempt is a candidate policy of the search.
type attempt struct {
	family, name string
	mk           func(capacity int) eviction.Policy
}

func duelWith(f func(*duel.Config)) func(int) eviction.Policy {
	cfg := duel.DefaultConfig()
	f(&cfg)
	return func(c int) eviction.Policy { return duel.NewConfig(c, cfg) }
}

func xWith(p xparams) func(int) eviction.Policy {
	return func(c int) eviction.Policy { return newX(p, c) }
}

var attempts = []attempt{
	{"baseline", "arc", func(c int) eviction.Policy { return eviction.NewARC(c) }},
	{"baseline", "s3fifo", func(c int) eviction.Policy { return eviction.NewS3FIFO(c) }},
	{"A: duel retuned", "duel of issue 5 (margin 0)", duelWith(func(c *duel.Config) { c.Margin = -1 })},
	{"A: duel retuned", "probation 2%", duelWith(func(c *duel.Config) { c.Margin = -1; c.ProbationShare = 0.02 })},
	{"A: duel retuned", "probation 20%, ghost 1x", duelWith(func(c *duel.Config) { c.Margin = -1; c.ProbationShare = 0.2; c.GhostFactor = 1 })},
	{"A: duel retuned", "probation 50%, ghost 1x", duelWith(func(c *duel.Config) { c.Margin = -1; c.ProbationShare = 0.5; c.GhostFactor = 1 })},
	{"B: W-TinyLFU", "window 1%, no duel", xWith(xparams{tinyLFU: true, windowShare: 0.01, probShare: 0.2, sketchMul: 4})},
	{"B: W-TinyLFU", "window 20%, no duel", xWith(xparams{tinyLFU: true, windowShare: 0.2, probShare: 0.2, sketchMul: 4})},
	{"B: W-TinyLFU", "window 1%, duel with LRU", xWith(xparams{tinyLFU: true, windowShare: 0.01, probShare: 0.2, sketchMul: 4, duel: true})},
	{"B: W-TinyLFU", "window 20%, duel with LRU", xWith(xparams{tinyLFU: true, windowShare: 0.2, probShare: 0.2, sketchMul: 4, duel: true})},
	{"C: prefix tree", "child of a hit block protected", xWith(xparams{probShare: 0.05, ghostFactor: 1, ghostAdmit: true, inherit: true, duel: true})},
	{"C: prefix tree", "superseded siblings first", xWith(xparams{probShare: 0.05, ghostFactor: 1, ghostAdmit: true, supersede: true, duel: true})},
	{"C: prefix tree", "both", xWith(xparams{probShare: 0.05, ghostFactor: 1, ghostAdmit: true, inherit: true, supersede: true, duel: true})},
	{"D: duel's choice", "margin 2%", duelWith(func(c *duel.Config) { c.Margin = 0.02 })},
	{"D: duel's choice", "margin 5%", duelWith(func(c *duel.Config) { c.Margin = 0.05 })},
	{"D: duel's choice", "shadows of >= 1024 keys, margin 0", duelWith(func(c *duel.Config) { c.Margin = -1; c.ShadowMin = 1024 })},
	{"D: duel's choice", "margin 1% (chosen: duel.DefaultConfig)", duelWith(func(*duel.Config) {})},
}

// gapStats accumulates a policy's standing between LRU and MIN.
type gapStats struct {
	num, den     int
	below, cells int
}

func (g *gapStats) add(h, lru, mn int) {
	g.cells++
	if h < lru {
		g.below++
	}
	g.num += h - lru
	g.den += mn - lru
}

func (g *gapStats) String() string {
	s := "="
	if g.den > 0 {
		s = fmt.Sprintf("%.1f%%", 100*float64(g.num)/float64(g.den))
	}
	return fmt.Sprintf("%s, %d of %d below", s, g.below, g.cells)
}

// measure replays every trace at every capacity through lru, min and each
// attempt, returning one gapStats per attempt.
func measure(trs []*trace.Trace, caps func(*trace.Trace) []int) []*gapStats {
	out := make([]*gapStats, len(attempts))
	for i := range out {
		out[i] = &gapStats{}
	}
	for _, tr := range trs {
		o := NewOracle(tr)
		for _, c := range caps(tr) {
			lru := Replay(tr, NewPolicyCache(eviction.NewLRU(c), c, tr), c, nil).HitBlocks
			mn := Replay(tr, NewMIN(c, o), c, nil).HitBlocks
			for i, a := range attempts {
				h := Replay(tr, NewPolicyCache(a.mk(c), c, tr), c, nil).HitBlocks
				out[i].add(h, lru, mn)
			}
		}
	}
	return out
}

var attemptsDoc = flag.String("attempts.doc", "", "write the attempts table into this document's test:attempts block")

// TestAttemptsTable measures every attempt of the search on the training
// traces (where the choice was made) and, for the record, on the shared
// traces (which played no part in it), and writes the table of
// docs/SIMULATIONS.md:
//
//	go test ./simulations -run TestAttemptsTable -attempts.doc ../docs/SIMULATIONS.md -timeout 1h
func TestAttemptsTable(t *testing.T) {
	if *attemptsDoc == "" {
		t.Skip("writes docs/SIMULATIONS.md's attempts table; give -attempts.doc")
	}
	train := measure(trainingTraces(t), func(tr *trace.Trace) []int {
		var cs []int
		for _, f := range trainingFractions {
			cs = append(cs, max(1, int(f*float64(tr.NumBlocks()))))
		}
		return cs
	})
	conv := loadShared(t, "conversation_trace.jsonl")
	syn := loadShared(t, "synthetic_trace.jsonl")
	at := func(c int) []*gapStats {
		return measure([]*trace.Trace{conv}, func(*trace.Trace) []int { return []int{c} })
	}
	c5, c10 := at(5000), at(10000)
	convAll := measure([]*trace.Trace{conv}, func(*trace.Trace) []int { return []int{1000, 2000, 5000, 10000, 20000, 50000, 100000} })
	synAll := measure([]*trace.Trace{syn}, func(*trace.Trace) []int { return []int{1000, 2000, 5000, 10000, 20000, 50000} })
	tab := &Table{Head: []string{"family", "attempt", "training: gap closed, cells below LRU", "conversation 5,000", "conversation 10,000",
		"conversation, 7 sizes", "synthetic, 6 sizes"}}
	for i, a := range attempts {
		tab.Add(a.family, a.name, train[i].String(), c5[i].String(), c10[i].String(), convAll[i].String(), synAll[i].String())
		t.Logf("%s / %s: training %v, conversation 5k %v 10k %v", a.family, a.name, train[i], c5[i], c10[i])
	}
	var b strings.Builder
	b.WriteString("`go test ./simulations -run TestAttemptsTable -attempts.doc ../docs/SIMULATIONS.md -timeout 1h`\n\n")
	if err := tab.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(*attemptsDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ReplaceDocBlock(string(raw), "test", "attempts", b.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(*attemptsDoc, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}

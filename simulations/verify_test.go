package simulations

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stratacache/stratacache/simulations/trace"
	"github.com/stratacache/stratacache/simulations/workload"
)

// verified lists the policies with a brute-force reference
// (reference_test.go).
var verified = []string{"lru", "fifo", "lfu", "s3fifo", "sieve", "arc", "prefix", "duel", PolicyMIN}

// mismatch is the first difference between a production cache and its
// reference.
type mismatch struct {
	request int
	what    string
}

func (m *mismatch) Error() string { return fmt.Sprintf("request %d: %s", m.request, m.what) }

// compareWithReference replays tr through the production cache of policy
// and through its reference, request by request, and reports the first
// request whose hits or victims differ (nil: none), plus both hit totals.
// For MIN the victims are compared by their (next use, depth): which of two
// blocks that are never used again and equally deep goes first is free.
func compareWithReference(tr *trace.Trace, policy string, capacity int) (err *mismatch, hits, refHits int) {
	c, e := NewCache(policy, capacity, tr)
	if e != nil {
		return &mismatch{-1, e.Error()}, 0, 0
	}
	var got []uint32
	c.(Evictor).SetEvictFunc(func(b uint32) { got = append(got, b) })
	ref := newRefCache(newRefPolicy(policy, capacity, tr), capacity, tr)
	var mr *refMIN
	if policy == PolicyMIN {
		mr = ref.pol.(*refMIN)
	}
	for r := 0; r < tr.Len(); r++ {
		lo, hi := int(tr.Offsets[r]), int(tr.Offsets[r+1])
		blocks := tr.Blocks[lo:hi]
		got = got[:0]
		h := c.Access(blocks, lo)
		rh := ref.Access(blocks, lo)
		hits += h
		refHits += rh
		if err != nil {
			continue
		}
		want := ref.victims
		same := slices.Equal(got, want)
		if mr != nil && !same && len(got) == len(want) {
			key := func(b uint32) [2]int { return [2]int{mr.nextUse(b), int(tr.Depth[b])} }
			same = true
			for i := range got {
				if key(got[i]) != key(want[i]) {
					same = false
				}
			}
		}
		switch {
		case h != rh:
			err = &mismatch{r, fmt.Sprintf("hits %d, reference %d", h, rh)}
		case !same:
			err = &mismatch{r, fmt.Sprintf("victims %v, reference %v (request %v)", got, want, blocks)}
		case c.Len() != ref.Len():
			err = &mismatch{r, fmt.Sprintf("holds %d blocks, reference %d", c.Len(), ref.Len())}
		case c.Len() > capacity:
			err = &mismatch{r, fmt.Sprintf("holds %d blocks, capacity %d", c.Len(), capacity)}
		}
	}
	if pc, ok := c.(*PolicyCache); ok && pc.Failed != ref.failed && err == nil {
		err = &mismatch{tr.Len(), fmt.Sprintf("%d failed inserts, reference %d", pc.Failed, ref.failed)}
	}
	return err, hits, refHits
}

// randomTree builds a trace that is a prefix tree: each request follows an
// earlier request's path for a random length, then adds fresh blocks.
func randomTree(seed uint64, requests, roots, maxLen int) *trace.Trace {
	r := rand.New(rand.NewPCG(seed, 0x7EE))
	b := trace.NewBuilder(fmt.Sprintf("tree-%d", seed), trace.FormatGenerated, 16, false)
	var paths [][]uint64
	next := uint64(roots + 1)
	for i := 0; i < requests; i++ {
		var p []uint64
		if len(paths) > 0 && r.IntN(4) > 0 {
			old := paths[r.IntN(len(paths))]
			p = append(p, old[:1+r.IntN(len(old))]...)
		} else {
			p = append(p, uint64(1+r.IntN(roots)))
		}
		for n := r.IntN(maxLen); n > 0 && len(p) < maxLen; n-- {
			p = append(p, next)
			next++
		}
		paths = append(paths, p)
		if err := b.Add(int64(i), uint32(16*len(p)), 1, p); err != nil {
			panic(err)
		}
	}
	return b.Trace()
}

// randomNonTree builds a trace whose block ids ignore the prefix rule: a
// block appears under different parents and may repeat inside a request.
func randomNonTree(seed uint64, requests, ids, maxLen int) *trace.Trace {
	r := rand.New(rand.NewPCG(seed, 0xBAD7EE))
	b := trace.NewBuilder(fmt.Sprintf("nontree-%d", seed), trace.FormatGenerated, 16, false)
	for i := 0; i < requests; i++ {
		p := make([]uint64, 1+r.IntN(maxLen))
		for j := range p {
			p[j] = uint64(1 + r.IntN(ids))
		}
		if err := b.Add(int64(i), uint32(16*len(p)), 1, p); err != nil {
			panic(err)
		}
	}
	return b.Trace()
}

func generated(tb testing.TB, kind string, seed uint64, requests int) *trace.Trace {
	tb.Helper()
	cfg := workload.DefaultConfig()
	cfg.Seed = seed
	cfg.Requests = requests
	tr, err := workload.Generate(kind, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return tr
}

// TestPoliciesMatchReferences compares every policy with its brute-force
// reference, eviction by eviction, on seeded random prefix trees, generated
// workloads and random traces that are not trees, at capacities from one
// block up.
func TestPoliciesMatchReferences(t *testing.T) {
	type tc struct {
		tr   *trace.Trace
		caps []int
	}
	var cases []tc
	seeds := uint64(4)
	if raceEnabled {
		seeds = 1 // the race detector slows the references tenfold
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		cases = append(cases,
			tc{randomTree(seed, 600, 3, 12), []int{1, 2, 3, 7, 20, 60}},
			tc{randomNonTree(seed, 400, 40, 6), []int{1, 2, 5, 15}},
		)
	}
	kinds := []string{workload.KindChat, workload.KindAgent, workload.KindMix}
	if raceEnabled {
		kinds = kinds[:1]
	}
	for _, kind := range kinds {
		cases = append(cases, tc{generated(t, kind, 101, 600), []int{50, 200, 800}})
	}
	for _, c := range cases {
		for _, policy := range verified {
			for _, capacity := range c.caps {
				if err, _, _ := compareWithReference(c.tr, policy, capacity); err != nil {
					t.Errorf("%s on %s at %d blocks: %v", policy, c.tr.Name, capacity, err)
				}
			}
		}
	}
}

// verifyFull runs the reference comparison on the whole shared traces at
// the capacities of the verification table in docs/SIMULATIONS.md (about a
// minute of CPU per capacity); without it the test compares a prefix of
// each trace at 1,000 blocks.
var verifyFull = flag.Bool("verify.full", false, "compare every policy with its reference on the whole shared traces")

// TestPoliciesMatchReferencesOnSharedTraces compares every policy with its
// reference on both shared traces (skipped where they are absent).
func TestPoliciesMatchReferencesOnSharedTraces(t *testing.T) {
	for _, name := range []string{"conversation_trace.jsonl", "synthetic_trace.jsonl"} {
		tr := loadShared(t, name)
		caps := verifyCapacities
		if !*verifyFull {
			caps = []int{1000}
			n := 2500
			if raceEnabled {
				caps, n = []int{300}, 400
			}
			tr = tr.Slice(0, n)
		}
		for _, policy := range verified {
			for _, capacity := range caps {
				err, hits, refHits := compareWithReference(tr, policy, capacity)
				if err != nil {
					t.Errorf("%s on %s at %d blocks: %v", policy, tr.Name, capacity, err)
				}
				t.Logf("%s %-7s %5d: %.4f reference %.4f", tr.Name, policy, capacity,
					float64(hits)/float64(tr.Accesses()), float64(refHits)/float64(tr.Accesses()))
			}
		}
	}
}

// verifyCapacities are the capacities of the verification table.
var verifyCapacities = []int{1000, 5000}

// verifyDoc names the document whose test:verify block the verification
// table is written to (docs/SIMULATIONS.md from the repository root).
var verifyDoc = flag.String("verify.doc", "", "write the verification table into this document's test:verify block")

// TestVerificationTable writes the table of docs/SIMULATIONS.md that shows
// every policy against its reference: on both shared traces at the table's
// capacities (whole traces) and on the seeded random traces of
// TestPoliciesMatchReferences. Run with
//
//	go test ./simulations -run TestVerificationTable -verify.doc ../docs/SIMULATIONS.md -timeout 1h
func TestVerificationTable(t *testing.T) {
	if *verifyDoc == "" {
		t.Skip("writes docs/SIMULATIONS.md's verification table; give -verify.doc")
	}
	type col struct {
		name string
		trs  []*trace.Trace
		caps []int
	}
	var cols []col
	for _, name := range []string{"conversation_trace.jsonl", "synthetic_trace.jsonl"} {
		tr := loadShared(t, name)
		for _, c := range verifyCapacities {
			cols = append(cols, col{fmt.Sprintf("%s, %d", strings.TrimSuffix(name, "_trace.jsonl"), c), []*trace.Trace{tr}, []int{c}})
		}
	}
	var trees, nontrees, gens []*trace.Trace
	for seed := uint64(1); seed <= 4; seed++ {
		trees = append(trees, randomTree(seed, 600, 3, 12))
		nontrees = append(nontrees, randomNonTree(seed, 400, 40, 6))
	}
	for _, kind := range []string{workload.KindChat, workload.KindAgent, workload.KindMix} {
		gens = append(gens, generated(t, kind, 101, 600))
	}
	cols = append(cols,
		col{"4 random trees x 6 capacities", trees, []int{1, 2, 3, 7, 20, 60}},
		col{"4 non-trees x 4 capacities", nontrees, []int{1, 2, 5, 15}},
		col{"3 generated x 3 capacities", gens, []int{50, 200, 800}})
	tab := &Table{Head: []string{"policy"}}
	for _, c := range cols {
		tab.Head = append(tab.Head, c.name)
	}
	for _, policy := range verified {
		row := []string{policy}
		for _, c := range cols {
			evictions, maxDiff, differ := 0, 0.0, ""
			for _, tr := range c.trs {
				for _, capacity := range c.caps {
					var n int
					counted, _ := NewCache(policy, capacity, tr)
					counted.(Evictor).SetEvictFunc(func(uint32) { n++ })
					Replay(tr, counted, capacity, nil)
					evictions += n
					err, hits, refHits := compareWithReference(tr, policy, capacity)
					d := math.Abs(float64(hits-refHits)) / float64(tr.Accesses())
					maxDiff = max(maxDiff, d)
					if err != nil && differ == "" {
						differ = fmt.Sprintf("%s at %d: %v", tr.Name, capacity, err)
						t.Errorf("%s: %s", policy, differ)
					}
				}
			}
			cell := fmt.Sprintf("%.4f, %d evictions identical", maxDiff, evictions)
			if differ != "" {
				cell = fmt.Sprintf("%.4f, DIFFERS (%s)", maxDiff, differ)
			}
			row = append(row, cell)
		}
		tab.Add(row...)
		t.Logf("%v", row)
	}
	var b strings.Builder
	b.WriteString("`go test ./simulations -run TestVerificationTable -verify.doc ../docs/SIMULATIONS.md -timeout 1h`\n\n")
	b.WriteString("Each cell: the largest hit-rate difference from the reference, and the evictions compared one by one (all identical, in order).\n\n")
	if err := tab.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(*verifyDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ReplaceDocBlock(string(raw), "test", "verify", b.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(*verifyDoc, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}

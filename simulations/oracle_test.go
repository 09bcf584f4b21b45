package simulations

import (
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stratacache/stratacache/simulations/trace"
)

// sharedTracePath locates a trace of ../shared/traces (relative to the
// repository root) or skips the test.
func sharedTracePath(tb testing.TB, name string) string {
	tb.Helper()
	p := filepath.Join("..", "..", "shared", "traces", name)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("trace %s not present (%v): skipping", p, err)
	}
	return p
}

var traceCache sync.Map

func loadShared(tb testing.TB, name string) *trace.Trace {
	tb.Helper()
	p := sharedTracePath(tb, name)
	if t, ok := traceCache.Load(p); ok {
		return t.(*trace.Trace)
	}
	tr, err := trace.ReadFile(p, trace.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	traceCache.Store(p, tr)
	return tr
}

// build makes a trace from literal requests of global block keys.
func build(tb testing.TB, reqs ...[]uint64) *trace.Trace {
	tb.Helper()
	b := trace.NewBuilder("t", trace.FormatGenerated, 16, false)
	for i, r := range reqs {
		if err := b.Add(int64(i), 16*uint32(len(r)), 1, r); err != nil {
			tb.Fatal(err)
		}
	}
	return b.Trace()
}

func near(a, b float64) bool { return math.Abs(a-b) < 0.001 }

func TestMINEvictsFarthestThenDeeper(t *testing.T) {
	// Capacity 3. After r0 and r1 the cache holds 1,2,3 (r0) ... r1 needs
	// room for 4: 1 is used next (r3), 2 is never used again and 3 is
	// never used again but deeper: 3 goes first.
	tr := build(t,
		[]uint64{1, 2, 3},
		[]uint64{4},
		[]uint64{4},
		[]uint64{1},
	)
	m := NewMIN(3, NewOracle(tr))
	var evicted []uint32
	m.SetEvictFunc(func(b uint32) { evicted = append(evicted, b) })
	res := Replay(tr, m, 3, nil)
	if len(evicted) != 1 || evicted[0] != 3 {
		t.Fatalf("evicted %v, want [3] (dense id of key 3)", evicted)
	}
	if res.HitBlocks != 2 {
		t.Fatalf("hits %d, want 2", res.HitBlocks)
	}
}

func TestMINNeverEvictsTheRequest(t *testing.T) {
	// Capacity 2, a request of 2 new blocks after a cached one that is
	// reused later: the request's own blocks are pinned, so the old one
	// must go even though it is needed again.
	tr := build(t,
		[]uint64{9},
		[]uint64{1, 2},
		[]uint64{9},
	)
	m := NewMIN(2, NewOracle(tr))
	res := Replay(tr, m, 2, nil)
	if res.HitBlocks != 0 || m.Len() != 2 {
		t.Fatalf("hits %d len %d", res.HitBlocks, m.Len())
	}
}

func TestLongRequestCachesItsPrefix(t *testing.T) {
	tr := build(t, []uint64{1, 2, 3, 4, 5}, []uint64{1, 2, 3, 4, 5})
	for _, name := range []string{PolicyMIN} {
		res, err := Run(tr, name, 3, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.HitBlocks != 3 {
			t.Fatalf("%s: hits %d, want the first 3 blocks", name, res.HitBlocks)
		}
	}
}

func TestInfiniteAndMINOnConversation(t *testing.T) {
	tr := loadShared(t, "conversation_trace.jsonl")
	res, err := Run(tr, PolicyInfinite, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !near(res.HitRate, 0.3664) {
		t.Fatalf("infinite hit rate %.4f, want 0.3664", res.HitRate)
	}
	o := NewOracle(tr)
	for _, c := range []struct {
		capacity int
		want     float64
	}{{1000, 0.1792}, {5000, 0.3397}, {10000, 0.3664}, {20000, 0.3664}, {50000, 0.3664}} {
		res := Replay(tr, NewMIN(c.capacity, o), c.capacity, nil)
		t.Logf("MIN %d: %.4f", c.capacity, res.HitRate)
		if !near(res.HitRate, c.want) {
			t.Errorf("MIN at %d blocks: %.4f, want %.4f", c.capacity, res.HitRate, c.want)
		}
	}
}

// TestNonTreeRegressions keeps the cases that broke on traces that are not
// prefix trees before issue 17: MIN overfilled when a cached block sat past
// the capacity in a request (its heap entry fell inside the request's range
// and stopped the evictions), MIN and PolicyCache sliced out of range when
// the hit run was longer than the capacity (a block repeated at the front),
// and LRU evicted twice for a block repeated in a request.
func TestNonTreeRegressions(t *testing.T) {
	cases := []struct {
		name     string
		reqs     [][]uint64
		capacity int
	}{
		{"cached block past the capacity", [][]uint64{{7}, {1, 2, 7}, {7}}, 2},
		{"hit run longer than the capacity", [][]uint64{{19}, {19, 19, 12}, {19}}, 1},
		{"block repeated in a request", [][]uint64{{5}, {6}, {9, 8, 9, 8}, {5}}, 3},
	}
	for _, c := range cases {
		tr := build(t, c.reqs...)
		if tr.IsTree() {
			t.Fatalf("%s: the trace is a tree", c.name)
		}
		for _, policy := range []string{PolicyMIN, "lru", "fifo", "arc", "prefix"} {
			err, hits, refHits := compareWithReference(tr, policy, c.capacity)
			if err != nil {
				t.Errorf("%s, %s: %v (hits %d, reference %d)", c.name, policy, err, hits, refHits)
			}
		}
	}
}

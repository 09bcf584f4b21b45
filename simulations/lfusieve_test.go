package simulations

import (
	"testing"

	"github.com/stratacache/stratacache/simulations/trace"
	"github.com/stratacache/stratacache/tiers/eviction"
)

// evictionsUntilPass replays tr through LFU and SIEVE at capacity and
// returns the index of the first eviction where they differ (-1: none),
// the number of evictions, and how many of SIEVE's evictions had happened
// when its hand first completed a pass (-1: never).
func evictionsUntilPass(tr *trace.Trace, capacity int) (diverge, evictions, firstPass int) {
	var seqs [2][]uint32
	sieve := eviction.NewSIEVE(capacity)
	firstPass = -1
	for i, p := range []eviction.Policy{eviction.NewLFU(capacity), sieve} {
		c := NewPolicyCache(p, capacity, tr)
		c.SetEvictFunc(func(b uint32) {
			seqs[i] = append(seqs[i], b)
			if p == eviction.Policy(sieve) && firstPass < 0 && sieve.Passes() > 0 {
				firstPass = len(seqs[i]) - 1
			}
		})
		Replay(tr, c, capacity, nil)
	}
	diverge = -1
	for j := range min(len(seqs[0]), len(seqs[1])) {
		if seqs[0][j] != seqs[1][j] {
			diverge = j
			break
		}
	}
	if diverge < 0 && len(seqs[0]) != len(seqs[1]) {
		diverge = min(len(seqs[0]), len(seqs[1]))
	}
	return diverge, len(seqs[1]), firstPass
}

// TestLFUEqualsSIEVEUntilTheHandWraps is the evidence behind LFU and SIEVE
// giving identical hit rates on the conversation trace: under the
// simulator's semantics (each block accessed once per request, every
// pinned block touched in its request) SIEVE evicts the oldest unpinned
// block never touched since it entered (the blocks behind its hand were
// all touched), which is LFU's victim (lowest frequency 1, least recently
// used = oldest insert), until the hand runs out of such blocks and wraps.
// On the conversation trace it never wraps at the table's capacities, so
// the two evict the same blocks in the same order; on the synthetic trace
// it does, and the sequences part at the first eviction after the wrap.
func TestLFUEqualsSIEVEUntilTheHandWraps(t *testing.T) {
	conv := loadShared(t, "conversation_trace.jsonl")
	syn := loadShared(t, "synthetic_trace.jsonl")
	caps := []int{1000, 2000, 5000, 10000, 20000, 50000, 100000}
	if testing.Short() || raceEnabled {
		caps = []int{1000, 5000}
	}
	for _, c := range caps {
		d, n, pass := evictionsUntilPass(conv, c)
		t.Logf("conversation %6d: %d evictions, first difference %d, first pass %d", c, n, d, pass)
		if d >= 0 || pass >= 0 {
			t.Errorf("conversation at %d: LFU and SIEVE part at eviction %d of %d; SIEVE's hand first wrapped at %d", c, d, n, pass)
		}
	}
	for _, c := range caps[:2] {
		d, n, pass := evictionsUntilPass(syn, c)
		t.Logf("synthetic %6d: %d evictions, first difference %d, first pass %d", c, n, d, pass)
		if pass < 0 || d < pass {
			t.Errorf("synthetic at %d: LFU and SIEVE part at eviction %d of %d, before SIEVE's hand wrapped (%d)", c, d, n, pass)
		}
	}
}

package simulations

import (
	"math"
	"testing"

	"github.com/stratacache/stratacache/tiers/eviction"
)

// TestReadBufferQuality is issue 16's eviction-quality check of the memory
// tier's read buffer: every policy whose order depends on hits, replayed
// on both shared traces with hits going through eviction.Buffered (and a
// busy lock half or nine tenths of the time a full stripe wants it), stays
// within 0.005 hit rate of the exact policy. The table in docs/eviction.md
// is this test's -v output.
func TestReadBufferQuality(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("replays both traces for seven policies (a quality sweep: nothing for the race detector to see)")
	}
	for _, name := range []string{"conversation_trace.jsonl", "synthetic_trace.jsonl"} {
		tr := loadShared(t, name)
		for _, pol := range []string{"lru", "lfu", "s3fifo", "sieve", "arc", "prefix", "duel"} {
			for _, c := range []int{1000, 5000, 20000} {
				exact, err := Run(tr, pol, c, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, busy := range []float64{0, 0.9, 1} {
					rc, err := NewReadBufferCache(pol, c, tr, busy, 1)
					if err != nil {
						t.Fatal(err)
					}
					r := Replay(tr, rc, c, nil)
					var s eviction.BufferStats
					rc.Stats(&s)
					d := r.HitRate - exact.HitRate
					t.Logf("%s %-6s %6d busy %.1f: exact %.4f buffered %.4f (%+.4f), %.1f%% of hits dropped",
						name, pol, c, busy, exact.HitRate, r.HitRate, d, 100*float64(s.Dropped)/float64(max(1, s.Applied+s.Dropped)))
					if math.Abs(d) > 0.005 {
						t.Errorf("%s %s at %d, busy %.1f: %.4f vs exact %.4f", name, pol, c, busy, r.HitRate, exact.HitRate)
					}
				}
			}
		}
	}
}

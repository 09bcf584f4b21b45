package simulations

import "testing"

// TestDuelNeverBelowLRU holds the duel policy (tiers/eviction/duel) to
// the part of the quality goal it meets on the shared traces (which its
// parameters were not chosen on): never below LRU on either, and at least
// 25% of the LRU-to-MIN gap closed at 5,000 blocks on the conversation
// trace. (At 10,000 blocks it closes about 6%: that half of the goal is
// not met; docs/SIMULATIONS.md says why.)
func TestDuelNeverBelowLRU(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("replays both traces at eight capacities (a quality sweep: nothing for the race detector to see)")
	}
	for _, name := range []string{"conversation_trace.jsonl", "synthetic_trace.jsonl"} {
		tr := loadShared(t, name)
		for _, c := range []int{500, 1000, 2000, 5000, 10000, 20000, 50000, 100000} {
			lru, err := Run(tr, "lru", c, nil)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Run(tr, "duel", c, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %6d lru %.4f duel %.4f", name, c, lru.HitRate, d.HitRate)
			if d.HitBlocks < lru.HitBlocks {
				t.Errorf("%s at %d: duel %.4f below LRU %.4f", name, c, d.HitRate, lru.HitRate)
			}
			if name == "conversation_trace.jsonl" && c == 5000 {
				// LRU 0.1118, MIN 0.3397: a quarter of the gap is 0.1688.
				if d.HitRate < 0.1118+0.25*(0.3397-0.1118) {
					t.Errorf("duel at 5000: %.4f closes less than 25%% of the gap", d.HitRate)
				}
			}
		}
	}
}

package simulations

import "testing"

// TestExactConversationTable checks the figures an independent
// implementation of the reference semantics gives on the conversation
// trace (issue 5), to within 0.001.
func TestExactConversationTable(t *testing.T) {
	tr := loadShared(t, "conversation_trace.jsonl")
	caps := []int{1000, 5000, 10000, 20000, 50000}
	want := map[string][]float64{
		"lru":  {0.0445, 0.1118, 0.2116, 0.2878, 0.3546},
		"fifo": {0.0445, 0.1064, 0.1816, 0.2576, 0.3336},
		"min":  {0.1792, 0.3397, 0.3664, 0.3664, 0.3664},
	}
	for _, policy := range []string{"lru", "fifo", "min"} {
		for i, c := range caps {
			res, err := Run(tr, policy, c, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%-4s %6d %.4f  %.1fM accesses/s", policy, c, res.HitRate, res.AccessesPerSec/1e6)
			if !near(res.HitRate, want[policy][i]) {
				t.Errorf("%s at %d blocks: hit rate %.4f, want %.4f", policy, c, res.HitRate, want[policy][i])
			}
		}
	}
}

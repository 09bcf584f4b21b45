package simulations

import (
	"testing"

	"github.com/stratacache/stratacache/tiers/eviction"
)

// TestAllPoliciesRun replays a slice of the conversation trace through
// every policy and checks the invariants the simulator relies on: the
// mirror agrees with the policy, capacity is respected, no insert failed,
// and every policy lies between nothing and MIN.
func TestAllPoliciesRun(t *testing.T) {
	tr := loadShared(t, "conversation_trace.jsonl").Slice(0, 3000)
	const capacity = 5000
	minRes, err := Run(tr, PolicyMIN, capacity, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range eviction.Names() {
		c, err := NewCache(name, capacity, tr)
		if err != nil {
			t.Fatal(err)
		}
		res := Replay(tr, c, capacity, nil)
		pc := c.(*PolicyCache)
		if pc.Failed != 0 {
			t.Errorf("%s: %d inserts found no victim", name, pc.Failed)
		}
		if pc.Len() != pc.Policy().Len() || pc.Len() > capacity {
			t.Errorf("%s: simulator holds %d, policy %d, capacity %d", name, pc.Len(), pc.Policy().Len(), capacity)
		}
		if res.HitRate <= 0 || res.HitRate > minRes.HitRate+1e-9 {
			t.Errorf("%s: hit rate %.4f outside (0, MIN=%.4f]", name, res.HitRate, minRes.HitRate)
		}
		t.Logf("%-7s %.4f (MIN %.4f)", name, res.HitRate, minRes.HitRate)
	}
}

package cluster

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/stratacache/stratacache/placement"
)

func TestRingMatchesPlacement(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	var names []string
	for i := 0; i < 37; i++ {
		names = append(names, fmt.Sprintf("node-%d", i))
	}
	r := newRing(names, 1)
	for i := 0; i < 2000; i++ {
		h := rng.Uint64()
		for _, k := range []int{1, 3, 5} {
			if got, want := r.replicas(nil, h, k), placement.Replicas(nil, h, names, k); !slices.Equal(got, want) {
				t.Fatalf("hash %x k %d: ring %v, placement %v", h, k, got, want)
			}
		}
	}
}

// A small fleet end to end: the partitioned directory holds what the
// holders hold after a kill and a join under load (the bench's own check
// of every artifact), with entries spread over the replicas.
func TestRunFleetSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 6-node cluster with churn")
	}
	r, err := RunFleet(FleetOptions{Nodes: 6, Replicas: 3, Artifacts: 3000, Trials: 10, Churn: 1, Seed: 2,
		AntiEntropy: time.Second, SteadyPasses: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if r.Churn.LostHolders != 0 || r.Churn.StaleHolders != 0 {
		t.Fatalf("after churn: %d lost, %d stale holders", r.Churn.LostHolders, r.Churn.StaleHolders)
	}
	if c := r.Control; c.StoreBytesPerStore <= 0 || c.Steady.Seconds <= 0 || c.Steady.ModelBytesPerSPerNode <= 0 || r.Model1000.ControlBytesPerSPerNode <= 0 {
		t.Fatalf("control traffic not measured: %+v, model %+v", c, r.Model1000)
	}
	if r.Directory.EntriesPerNodeMax > r.Directory.EntriesPerNodeIdeal*3/2 {
		t.Fatalf("entries per node max %d > 1.5 x ideal %d", r.Directory.EntriesPerNodeMax, r.Directory.EntriesPerNodeIdeal)
	}
}

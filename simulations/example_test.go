package simulations_test

import (
	"fmt"

	"github.com/stratacache/stratacache/simulations"
	"github.com/stratacache/stratacache/simulations/workload"
)

// Replaying a generated chat workload through LRU and the MIN oracle.
func Example() {
	cfg := workload.DefaultConfig()
	cfg.Requests = 2000
	tr, err := workload.Generate(workload.KindChat, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	results, err := simulations.RunAll(tr, []string{"lru", "min"}, []int{500, 2000}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range results {
		fmt.Printf("%s %d %.4f\n", r.Policy, r.Capacity, r.HitRate)
	}
	// Output:
	// lru 500 0.4327
	// lru 2000 0.6764
	// min 500 0.6391
	// min 2000 0.7074
}

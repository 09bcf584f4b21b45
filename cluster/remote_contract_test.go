package cluster

import (
	"testing"

	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/tiertest"
)

// The remote tier keeps the tiers.Tier contract the local media keep, as far
// as it can: it does not evict, cannot compare peers' versions, pin remote
// artifacts or be asked about colliding ids, and keeps nothing itself
// across a close.
func TestRemoteTierContract(t *testing.T) {
	tiertest.RunContract(t, tiertest.Harness{
		New: func(t *testing.T, capacity int64) tiers.Tier {
			_, nodes := startCluster(t, 2, clusterOpts{})
			return nodes[0].n.RemoteTier()
		},
	})
}

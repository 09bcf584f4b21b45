package node

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/eviction"
	"github.com/stratacache/stratacache/tiers/memory"
)

// CPUTierName, CXLTierName and DiskTierName are the tier names the node
// gives its chain (what exact/prefer access and the metrics' tier label use).
const (
	CPUTierName  = "cpu"
	CXLTierName  = "cxl"
	DiskTierName = "disk"
)

// newPolicy builds a named eviction policy sized for capacity keys.
func newPolicy(name string, capacity int) (eviction.Policy, error) {
	switch name {
	case "lru":
		return eviction.NewLRU(capacity), nil
	case "fifo":
		return eviction.NewFIFO(capacity), nil
	case "lfu":
		return eviction.NewLFU(capacity), nil
	case "s3fifo":
		return eviction.NewS3FIFO(capacity), nil
	case "sieve":
		return eviction.NewSIEVE(capacity), nil
	case "arc":
		return eviction.NewARC(capacity), nil
	case "prefix":
		return eviction.NewPrefix(capacity), nil
	}
	return nil, fmt.Errorf("%w: cpu_policy: %q is not one of %v", ErrConfig, name, knownPolicies)
}

// BuildEngine builds the storage engine cfg describes: the CPU tier from
// cpu_capacity_mb (and cpu_policy), then the CXL tier when use_cxl is set and
// the disk tier when disk.capacity_mb is positive, joined by write-back
// links when writeback is set and write-through links otherwise.
func BuildEngine(cfg Config, log *slog.Logger) (*actors.Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	maxPayload := cfg.Limits.MaxPayloadMB << 20
	capacity := cfg.CPUCapacityMB << 20
	policy, err := newPolicy(cfg.CPUPolicy, max(int(capacity/(256<<10)), 1024))
	if err != nil {
		return nil, err
	}
	cpu, err := memory.New(memory.Config{
		Name:             CPUTierName,
		CapacityBytes:    capacity,
		MaxArtifactBytes: min(maxPayload, capacity),
		Policy:           policy,
	})
	if err != nil {
		return nil, fmt.Errorf("node: build cpu tier: %w", err)
	}
	chain := []tiers.Tier{cpu}
	closeAll := func() {
		for _, t := range chain {
			_ = t.Close()
		}
	}
	if cfg.UseCXL {
		closeAll()
		return nil, fmt.Errorf("%w: use_cxl: the CXL tier (tiers/cxl) is not wired into the node yet", ErrNotYet)
	}
	if cfg.Disk.CapacityMB > 0 {
		closeAll()
		return nil, fmt.Errorf("%w: disk.capacity_mb: the disk tier (tiers/disk) is not wired into the node yet", ErrNotYet)
	}
	links := make([]actors.LinkConfig, 0, len(chain)-1)
	for range len(chain) - 1 {
		l := actors.DefaultLinkConfig()
		l.Policy = actors.WriteThrough
		if cfg.Writeback {
			l.Policy = actors.WriteBack
		}
		links = append(links, l)
	}
	return actors.NewEngine(actors.Config{
		Tiers:            chain,
		Links:            links,
		MaxArtifactBytes: maxPayload,
		PromoteOnHit:     true,
		RequestTimeout:   seconds(cfg.Limits.RequestTimeoutS),
		Logger:           log,
	})
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

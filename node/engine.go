package node

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/cxl"
	"github.com/stratacache/stratacache/tiers/disk"
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

// BuildEngine builds the storage engine cfg describes: the CPU tier from
// cpu_capacity_mb (and cpu_policy), then the CXL tier when use_cxl is set and
// the disk tier (disk.path/disk.tier) when disk.capacity_mb is positive, joined by write-back
// links when writeback is set and write-through links otherwise.
func BuildEngine(cfg Config, log *slog.Logger) (*actors.Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	maxPayload := cfg.Limits.MaxPayloadMB << 20
	capacity := cfg.CPUCapacityMB << 20
	policy, err := eviction.New(cfg.CPUPolicy, max(int(capacity/(256<<10)), 1024))
	if err != nil {
		return nil, fmt.Errorf("%w: cpu_policy: %w", ErrConfig, err)
	}
	mc := memory.DefaultConfig(capacity)
	mc.Name = CPUTierName
	mc.MaxArtifactBytes = min(maxPayload, capacity)
	mc.Policy, mc.PolicyName = policy, ""
	cpu, err := memory.New(mc)
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
		cc := cxl.DefaultConfig()
		cc.Name = CXLTierName
		cc.DAXDevice = cfg.CXLDaxDevice
		if cfg.CXLPath != "" {
			cc.Path = cfg.CXLPath
		}
		cc.CapacityBytes = cfg.CXLCapacityMB << 20
		cc.ResetMetadata = cfg.CXLResetMetadata
		t, err := cxl.Open(cc)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("node: open cxl tier: %w", err)
		}
		chain = append(chain, t)
	}
	if cfg.Disk.CapacityMB > 0 {
		if err := os.MkdirAll(cfg.Disk.Path, 0o755); err != nil {
			closeAll()
			return nil, fmt.Errorf("node: disk tier directory: %w", err)
		}
		dc := disk.DefaultConfig(filepath.Join(cfg.Disk.Path, DiskFileName))
		dc.Name = DiskTierName
		dc.CapacityBytes = cfg.Disk.CapacityMB << 20
		dc.Durability = disk.Durability(cfg.Disk.Durability)
		t, err := disk.Open(dc)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("node: open disk tier: %w", err)
		}
		chain = append(chain, t)
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

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

// BuildEngine builds the storage engine cfg describes over BuildTiers'
// chain: the local tiers only (a clustered node appends the remote tier,
// see buildClustered).
func BuildEngine(cfg Config, log *slog.Logger) (*actors.Engine, error) {
	eng, _, err := buildEngine(cfg, log, nil)
	return eng, err
}

// buildEngine is BuildEngine with the local tiers reporting to feed (KV
// event publishing; nil: none); it also returns the CXL pool a co-located
// client may attach to (nil: none).
func buildEngine(cfg Config, log *slog.Logger, feed *eventFeed) (*actors.Engine, *poolAttach, error) {
	chain, links, err := BuildTiers(cfg)
	if err != nil {
		return nil, nil, err
	}
	pa := newPoolAttach(cfg, chain)
	chain = wrapForEvents(chain, feed)
	eng, err := actors.NewEngine(engineConfig(cfg, chain, links, log))
	return eng, pa, err
}

func engineConfig(cfg Config, chain []tiers.Tier, links []actors.LinkConfig, log *slog.Logger) actors.Config {
	return actors.Config{
		Tiers:            chain,
		Links:            links,
		MaxArtifactBytes: cfg.Limits.MaxPayloadMB << 20,
		PromoteOnHit:     true,
		RequestTimeout:   seconds(cfg.Limits.RequestTimeoutS),
		Logger:           log,
	}
}

// BuildTiers opens the local tiers cfg describes, top first: the CPU tier
// from cpu_capacity_mb (and cpu_policy), then the CXL tier when use_cxl is
// set and the disk tier (disk.path/disk.tier) when disk.capacity_mb is
// positive, and the links between them: write-back when writeback is set,
// write-through otherwise. The persistent tiers trust the checksum the CPU
// tier passes down with a demotion (TrustPutChecksum), so a payload is
// hashed once on its way down; a wrong one would be caught on first read.
func BuildTiers(cfg Config) ([]tiers.Tier, []actors.LinkConfig, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	maxPayload := cfg.Limits.MaxPayloadMB << 20
	capacity := cfg.CPUCapacityMB << 20
	policy, err := eviction.New(cfg.CPUPolicy, max(int(capacity/(256<<10)), 1024))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: cpu_policy: %w", ErrConfig, err)
	}
	mc := memory.DefaultConfig(capacity)
	mc.Name = CPUTierName
	mc.MaxArtifactBytes = min(maxPayload, capacity)
	mc.Policy, mc.PolicyName = policy, ""
	cpu, err := memory.New(mc)
	if err != nil {
		return nil, nil, fmt.Errorf("node: build cpu tier: %w", err)
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
		cc.TrustPutChecksum = true
		t, err := cxl.Open(cc)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("node: open cxl tier: %w", err)
		}
		chain = append(chain, t)
	}
	if cfg.Disk.CapacityMB > 0 {
		if err := os.MkdirAll(cfg.Disk.Path, 0o755); err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("node: disk tier directory: %w", err)
		}
		dc := disk.DefaultConfig(filepath.Join(cfg.Disk.Path, DiskFileName))
		dc.Name = DiskTierName
		dc.CapacityBytes = cfg.Disk.CapacityMB << 20
		dc.Durability = disk.Durability(cfg.Disk.Durability)
		dc.TrustPutChecksum = true
		t, err := disk.Open(dc)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("node: open disk tier: %w", err)
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
	return chain, links, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

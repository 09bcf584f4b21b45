package simulations

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stratacache/stratacache/simulations/trace"
)

// LinkPolicy is how blocks move between adjacent tiers.
type LinkPolicy uint8

const (
	// WriteBack keeps tiers exclusive: a new block is written to the top
	// tier only, a victim is demoted (written) one tier down, a lower-tier
	// hit is promoted (moved) to the top.
	WriteBack LinkPolicy = iota
	// WriteThrough keeps tiers inclusive: a new block is flushed to every
	// tier at once, a victim is dropped (a copy already sits below), a
	// lower-tier hit is copied to the top.
	WriteThrough
)

func (l LinkPolicy) String() string {
	if l == WriteThrough {
		return "write-through"
	}
	return "write-back"
}

// ParseLinkPolicy reads "write-back" or "write-through".
func ParseLinkPolicy(s string) (LinkPolicy, error) {
	switch strings.ToLower(s) {
	case "write-back", "writeback", "wb", "":
		return WriteBack, nil
	case "write-through", "writethrough", "wt":
		return WriteThrough, nil
	}
	return 0, fmt.Errorf("%w: link policy %q (want write-back or write-through)", ErrConfig, s)
}

// TierSpec is one tier of a multi-tier run.
type TierSpec struct {
	Name     string
	Capacity int     // blocks
	Policy   string  // an eviction.New name
	GBps     float64 // read bandwidth to the GPU
}

// DefaultGBps is the read bandwidth assumed for a tier name: CPU DRAM over
// PCIe 5.0 x16, CXL memory behind the same link, an NVMe Gen4 SSD, a
// 200 Gb/s RDMA NIC (docs/SIMULATIONS.md gives the sources).
func DefaultGBps(name string) float64 {
	switch strings.ToLower(name) {
	case "cpu", "dram", "memory", "mem":
		return 50
	case "cxl":
		return 30
	case "disk", "ssd", "nvme":
		return 7
	case "remote", "rdma", "net":
		return 25
	}
	return 10
}

// ParseTiers reads "name:capacity[:policy[:GBps]],..." (top tier first);
// policy defaults to def.
func ParseTiers(s, def string) ([]TierSpec, error) {
	var out []TierSpec
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p := strings.Split(f, ":")
		if len(p) < 2 || len(p) > 4 || p[0] == "" {
			return nil, fmt.Errorf("%w: tier %q (want name:capacity[:policy[:GBps]])", ErrConfig, f)
		}
		caps, err := ParseCapacities(p[1], 0)
		if err != nil || len(caps) != 1 {
			return nil, fmt.Errorf("%w: tier %q capacity", ErrConfig, f)
		}
		t := TierSpec{Name: p[0], Capacity: caps[0], Policy: def, GBps: DefaultGBps(p[0])}
		if len(p) > 2 && p[2] != "" {
			t.Policy = p[2]
		}
		if len(p) > 3 {
			g, err := strconv.ParseFloat(p[3], 64)
			if err != nil || g <= 0 {
				return nil, fmt.Errorf("%w: tier %q bandwidth", ErrConfig, f)
			}
			t.GBps = g
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no tiers", ErrConfig)
	}
	return out, nil
}

// TierResult is one tier's share of a multi-tier run.
type TierResult struct {
	Name      string  `json:"name"`
	Policy    string  `json:"policy"`
	Capacity  int     `json:"capacity"`
	GBps      float64 `json:"gbps"`
	HitBlocks int     `json:"hit_blocks"`
	HitRate   float64 `json:"hit_rate"`
	// Bytes moved: promoted out of this tier to the top, demoted into it,
	// flushed into it (write-through), dropped from it (last tier).
	PromotedBytes int64 `json:"promoted_bytes"`
	DemotedBytes  int64 `json:"demoted_bytes"`
	FlushedBytes  int64 `json:"flushed_bytes"`
	DroppedBytes  int64 `json:"dropped_bytes"`
}

// TieredResult is the outcome of a multi-tier run.
type TieredResult struct {
	Trace     string       `json:"trace"`
	Link      string       `json:"link"`
	Requests  int          `json:"requests"`
	Blocks    int          `json:"blocks"`
	HitBlocks int          `json:"hit_blocks"`
	HitRate   float64      `json:"hit_rate"`
	Tiers     []TierResult `json:"tiers"`
	// PrefillSec is the prefill time of every prompt with no cache;
	// SavedSec what the hits save under the cost model.
	PrefillSec       float64 `json:"prefill_seconds"`
	SavedSec         float64 `json:"saved_seconds"`
	MeanTTFTSavedMs  float64 `json:"mean_ttft_saved_ms"`
	SavedFraction    float64 `json:"saved_fraction"`
	Seconds          float64 `json:"seconds"`
	KVBytesPerToken  int64   `json:"kv_bytes_per_token"`
	PrefillTokensSec float64 `json:"prefill_tokens_per_sec"`
}

// tiered is the state of a multi-tier run.
type tiered struct {
	tr         *trace.Trace
	tiers      []*PolicyCache
	res        []TierResult
	link       LinkPolicy
	cost       CostModel
	blockBytes int64
}

// RunTiered replays tr through a chain of tiers (top first).
func RunTiered(tr *trace.Trace, specs []TierSpec, link LinkPolicy, cost CostModel, progress Progress) (TieredResult, error) {
	t, err := newTiered(tr, specs, link, cost)
	if err != nil {
		return TieredResult{}, err
	}
	start := time.Now()
	out := TieredResult{
		Trace: tr.Name, Link: link.String(), Requests: tr.Len(), Blocks: tr.Accesses(),
		KVBytesPerToken: cost.KVBytesPerToken, PrefillTokensSec: cost.PrefillTokensPerSec,
	}
	for r := 0; r < tr.Len(); r++ {
		t.request(r, &out)
		if progress != nil && r&4095 == 4095 {
			progress(int(tr.Offsets[r+1]))
		}
	}
	out.Seconds = time.Since(start).Seconds()
	if out.Blocks > 0 {
		out.HitRate = float64(out.HitBlocks) / float64(out.Blocks)
		for i := range t.res {
			t.res[i].HitRate = float64(t.res[i].HitBlocks) / float64(out.Blocks)
		}
	}
	if out.Requests > 0 {
		out.MeanTTFTSavedMs = out.SavedSec / float64(out.Requests) * 1000
	}
	if out.PrefillSec > 0 {
		out.SavedFraction = out.SavedSec / out.PrefillSec
	}
	out.Tiers = t.res
	if progress != nil {
		progress(tr.Accesses())
	}
	return out, nil
}

func newTiered(tr *trace.Trace, specs []TierSpec, link LinkPolicy, cost CostModel) (*tiered, error) {
	if err := cost.Validate(); err != nil {
		return nil, err
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("%w: no tiers", ErrConfig)
	}
	t := &tiered{tr: tr, link: link, cost: cost, blockBytes: int64(tr.BlockTokens) * cost.KVBytesPerToken}
	for i, s := range specs {
		c, err := NewCache(s.Policy, s.Capacity, tr)
		if err != nil {
			return nil, fmt.Errorf("tier %s: %w", s.Name, err)
		}
		pc, ok := c.(*PolicyCache)
		if !ok {
			return nil, fmt.Errorf("%w: tier %s: multi-tier mode drives eviction policies only, not %q", ErrConfig, s.Name, s.Policy)
		}
		if s.GBps <= 0 {
			return nil, fmt.Errorf("%w: tier %s bandwidth %g", ErrConfig, s.Name, s.GBps)
		}
		t.tiers = append(t.tiers, pc)
		t.res = append(t.res, TierResult{Name: s.Name, Policy: pc.Name(), Capacity: s.Capacity, GBps: s.GBps})
		if i+1 < len(specs) {
			i := i
			pc.SetEvictFunc(func(b uint32) { t.onEvict(i, b) })
		} else {
			pc.SetEvictFunc(func(uint32) { t.res[len(t.res)-1].DroppedBytes += t.blockBytes })
		}
	}
	return t, nil
}

// request applies request r of the trace, adding its figures to out.
func (t *tiered) request(r int, out *TieredResult) {
	tr, cost := t.tr, t.cost
	lo, hi := tr.Offsets[r], tr.Offsets[r+1]
	blocks := tr.Blocks[lo:hi]
	n := len(blocks)
	in := tr.InputTokens[r]
	for i := 0; i < n; i++ {
		out.PrefillSec += cost.prefillSec(blockTokens(i, n, in, tr.BlockTokens))
	}
	// The hit prefix: each block found in the highest tier holding it.
	hit := 0
	for ; hit < n; hit++ {
		b := blocks[hit]
		k := t.find(b)
		if k < 0 {
			break
		}
		t.res[k].HitBlocks++
		out.SavedSec += cost.saving(blockTokens(hit, n, in, tr.BlockTokens), t.res[k].GBps)
		if k > 0 {
			t.res[k].PromotedBytes += t.blockBytes
		}
	}
	out.HitBlocks += hit
	top := t.tiers[0]
	req := blocks
	if len(req) > top.capacity {
		req = req[:top.capacity]
	}
	if t.link == WriteBack {
		// Exclusive tiers: the blocks move to the top.
		for _, b := range req {
			if !top.Contains(b) {
				for _, lower := range t.tiers[1:] {
					lower.Remove(b)
				}
			}
		}
	} else {
		// Inclusive tiers: every block of the request, new or not, is
		// written through to the tiers that lack it, deepest first like
		// the top tier applies it, so that a lower LRU-like tier orders a
		// chain the same way (its leaves least recent, evicted first).
		for k, lower := range t.tiers[1:] {
			for i := len(req) - 1; i >= 0; i-- {
				b := req[i]
				if !lower.Contains(b) {
					var parent uint32
					if i > 0 {
						parent = req[i-1]
					}
					if lower.Insert(b, parent) {
						t.res[k+1].FlushedBytes += t.blockBytes
					}
				}
			}
		}
	}
	top.Access(blocks, int(lo))
}

// find returns the index of the highest tier holding b, or -1.
func (t *tiered) find(b uint32) int {
	for k, c := range t.tiers {
		if c.Contains(b) {
			return k
		}
	}
	return -1
}

// onEvict handles a victim of tier i: demoted one tier down in write-back
// mode, dropped in write-through mode (a copy already sits below unless
// the lower tier evicted it; then it is written down again).
func (t *tiered) onEvict(i int, b uint32) {
	lower := t.tiers[i+1]
	if lower.Contains(b) {
		return
	}
	if lower.Insert(b, t.tr.Parent[b]) {
		if t.link == WriteBack {
			t.res[i+1].DemotedBytes += t.blockBytes
		} else {
			t.res[i+1].FlushedBytes += t.blockBytes
		}
	}
}

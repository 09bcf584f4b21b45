package actors

import (
	"time"

	"github.com/stratacache/stratacache/tiers"
)

// TierStats is a tier's counters plus what its actor adds.
type TierStats struct {
	tiers.Stats
	Promotions uint64 // artifacts copied up into this tier
	Demotions  uint64 // artifacts demoted into this tier
	Restarts   uint64 // supervisor restarts of its actor
}

// LinkStats is a snapshot of one link.
type LinkStats struct {
	Upper, Lower      string
	Policy            LinkPolicy
	DirtyArtifacts    int64
	DirtyBytes        int64 // dirty plus reserved by stores in flight
	MaxDirtyBytes     int64
	Flushed           uint64
	FlushedBytes      uint64
	FlushBatches      uint64
	FlushFailures     uint64
	BackpressureWaits uint64
	Demotions         uint64
	Restarts          uint64
	// FlushLag is how long the oldest dirty artifact has waited.
	FlushLag time.Duration
}

// EngineStats is a value snapshot of the whole chain.
type EngineStats struct {
	Tiers []TierStats
	Links []LinkStats
	Ops   OpStats
}

// Stats fills s, reusing its slices.
func (e *Engine) Stats(s *EngineStats) {
	s.Ops = e.ops.snapshot()
	s.Tiers = s.Tiers[:0]
	for _, st := range e.tiers {
		var ts TierStats
		st.tier.Stats(&ts.Stats)
		ts.Promotions = st.promotions.Load()
		ts.Demotions = st.demotions.Load()
		ts.Restarts = st.restarts.Load()
		s.Tiers = append(s.Tiers, ts)
	}
	s.Links = s.Links[:0]
	now := time.Now().UnixNano()
	for _, l := range e.links {
		ls := LinkStats{
			Upper:             e.tiers[l.index].tier.Name(),
			Lower:             e.tiers[l.index+1].tier.Name(),
			Policy:            l.cfg.Policy,
			DirtyArtifacts:    l.dirtyCount.Load(),
			DirtyBytes:        l.boundBytes(),
			MaxDirtyBytes:     l.cfg.MaxDirtyBytes,
			Flushed:           l.flushed.Load(),
			FlushedBytes:      l.flushedBytes.Load(),
			FlushBatches:      l.flushBatches.Load(),
			FlushFailures:     l.flushFailures.Load(),
			BackpressureWaits: l.backpressureWaits.Load(),
			Demotions:         l.demotions.Load(),
			Restarts:          l.restarts.Load(),
		}
		if o := l.oldestDirty.Load(); o > 0 {
			ls.FlushLag = time.Duration(now - o)
		}
		s.Links = append(s.Links, ls)
	}
}

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
	Down       bool   // its actor exceeded its restart budget
	Failed     bool   // the tier failed for good (tiers.ErrFailed)
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
	Superseded        uint64 // flushes refused as older than the tier below or a store in flight
	BackpressureWaits uint64
	Demotions         uint64
	DemoteFailures    uint64
	Restarts          uint64
	Down              bool // the link actor exceeded its restart budget
	// FlushLag is how long the oldest dirty artifact has waited.
	FlushLag time.Duration
}

// EngineStats is a value snapshot of the whole chain.
type EngineStats struct {
	Tiers []TierStats
	Links []LinkStats
	Ops   OpStats
	// Degraded: an actor is down or a tier failed (Engine.Health).
	Degraded   bool
	ActorsDown int64
	// Promotions queued and dropped (MaxPendingPromotes reached).
	PendingPromotes int64
	PromotesDropped uint64
	// Superseded counts stores and copies that a newer version overtook
	// (they changed nothing; the newer version holds the key).
	Superseded uint64
	// EvictionsLost counts victims dropped without demotion because their
	// link was down, the engine closing, or the writer gave up waiting.
	EvictionsLost uint64
	// InFlightKeys is the number of key stripes (4,096) with a store or
	// delete running.
	InFlightKeys int
}

// Stats fills s, reusing its slices.
func (e *Engine) Stats(s *EngineStats) {
	s.Ops = e.ops.snapshot()
	s.Degraded = false
	s.Tiers = s.Tiers[:0]
	for _, st := range e.tiers {
		var ts TierStats
		st.tier.Stats(&ts.Stats)
		ts.Promotions = st.promotions.Load()
		ts.Demotions = st.demotions.Load()
		ts.Restarts = st.restarts.Load()
		ts.Down = st.health.isDown.Load()
		if err, _ := tierFailed(st.tier); err != nil {
			ts.Failed = true
			s.Degraded = true
		}
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
			Superseded:        l.superseded.Load(),
			BackpressureWaits: l.backpressureWaits.Load(),
			Demotions:         l.demotions.Load(),
			DemoteFailures:    l.demoteFailures.Load(),
			Restarts:          l.restarts.Load(),
			Down:              l.health.isDown.Load(),
		}
		if o := l.oldestDirty.Load(); o > 0 {
			ls.FlushLag = time.Duration(now - o)
		}
		s.Links = append(s.Links, ls)
	}
	s.ActorsDown = e.actorsDown.Load()
	s.Degraded = s.Degraded || s.ActorsDown > 0
	s.PendingPromotes = e.pendingPromotes.Load()
	s.PromotesDropped = e.promotesDropped.Load()
	s.Superseded = e.superseded.Load()
	s.EvictionsLost = e.evictionsLost.Load()
	s.InFlightKeys = e.writersRunning()
}

package admin

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratacache/stratacache/actors"
)

// engineCollector turns one EngineStats snapshot per scrape into metrics.
type engineCollector struct {
	eng *actors.Engine

	tierHits, tierMisses, tierPuts, tierDeletes           *prometheus.Desc
	tierEvictions, tierEvictedBytes, tierPromotions       *prometheus.Desc
	tierDemotions, tierRestarts, tierCollisions           *prometheus.Desc
	tierCorruptions                                       *prometheus.Desc
	tierUsed, tierCapacity, tierPending, tierArtifacts    *prometheus.Desc
	linkDirtyBytes, linkDirtyArtifacts, linkMaxDirty      *prometheus.Desc
	linkFlushLag, linkFlushed, linkFlushedBytes           *prometheus.Desc
	linkFlushBatches, linkFlushFailures, linkBackpressure *prometheus.Desc
	linkDemotions                                         *prometheus.Desc
	loads, loadMisses, loadedBytes                        *prometheus.Desc
	stores, storedBytes, deletes                          *prometheus.Desc
	degraded, actorsDown, tierDown, tierFailed, linkDown  *prometheus.Desc
	superseded, evictionsLost, promotesDropped            *prometheus.Desc
	linkDemoteFailures, linkSuperseded                    *prometheus.Desc
}

func newEngineCollector(eng *actors.Engine) *engineCollector {
	tier := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("stratacache_tier_"+name, help, []string{"tier", "kind"}, nil)
	}
	link := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("stratacache_link_"+name, help, []string{"upper", "lower", "policy"}, nil)
	}
	engine := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("stratacache_engine_"+name, help, nil, nil)
	}
	return &engineCollector{
		eng:                eng,
		loads:              engine("loads_total", "Loads (reads) the engine served or missed, whichever tier answered."),
		loadMisses:         engine("load_misses_total", "Loads that found the artifact in no tier."),
		loadedBytes:        engine("loaded_bytes_total", "Payload bytes of the loads that found their artifact."),
		stores:             engine("stores_total", "Stores the engine acknowledged (clients' and peers' demotes)."),
		storedBytes:        engine("stored_bytes_total", "Payload bytes of the acknowledged stores."),
		deletes:            engine("deletes_total", "Delete calls."),
		degraded:           engine("degraded", "1 while an engine actor is down (past its restart budget) or a tier failed for good; /readyz answers 503 meanwhile."),
		actorsDown:         engine("actors_down", "Tier and link actors stopped for good after exceeding their restart budget."),
		superseded:         engine("superseded_total", "Stores and copies between tiers that a newer version of the key overtook (they changed nothing)."),
		evictionsLost:      engine("evictions_lost_total", "Evicted artifacts dropped without demotion (their link was down or did not take them in time)."),
		promotesDropped:    engine("promotes_dropped_total", "Lower-tier hits not promoted because the promotion queue was full."),
		tierDown:           tier("actor_down", "1 when the tier's actor was stopped for good."),
		tierFailed:         tier("failed", "1 when the tier failed for good (a write or sync error): it refuses writes and reads miss."),
		linkDown:           link("actor_down", "1 when the link's actor was stopped for good."),
		linkDemoteFailures: link("demote_failures_total", "Evicted artifacts the link could not write below."),
		linkSuperseded:     link("superseded_total", "Flushes refused because the tier below already held that version or a newer one was being stored."),
		tierHits:           tier("hits_total", "Reads the tier served."),
		tierMisses:         tier("misses_total", "Reads the tier could not serve."),
		tierPuts:           tier("puts_total", "Artifacts stored in the tier."),
		tierDeletes:        tier("deletes_total", "Artifacts deleted from the tier."),
		tierEvictions:      tier("evictions_total", "Artifacts the tier evicted to make room."),
		tierEvictedBytes:   tier("evicted_bytes_total", "Payload bytes the tier evicted."),
		tierPromotions:     tier("promotions_total", "Artifacts copied up into the tier after a lower-tier hit."),
		tierDemotions:      tier("demotions_total", "Artifacts demoted into the tier from the tier above."),
		tierRestarts:       tier("actor_restarts_total", "Supervisor restarts of the tier's actor."),
		tierCollisions:     tier("collisions_total", "Lookups that found a different key with the same 64-bit id."),
		tierCorruptions:    tier("corruptions_total", "Reads whose payload failed its checksum."),
		tierUsed:           tier("used_bytes", "Bytes allocated to artifacts."),
		tierCapacity:       tier("capacity_bytes", "The tier's byte budget."),
		tierPending:        tier("pending_bytes", "Bytes of removed artifacts still held by readers."),
		tierArtifacts:      tier("artifacts", "Artifacts held."),
		linkDirtyBytes:     link("dirty_bytes", "Bytes stored above and not yet flushed below (write-back)."),
		linkDirtyArtifacts: link("dirty_artifacts", "Artifacts stored above and not yet flushed below."),
		linkMaxDirty:       link("max_dirty_bytes", "The bound on dirty bytes."),
		linkFlushLag:       link("flush_lag_seconds", "Age of the oldest dirty artifact."),
		linkFlushed:        link("flushed_total", "Artifacts flushed down."),
		linkFlushedBytes:   link("flushed_bytes_total", "Bytes flushed down."),
		linkFlushBatches:   link("flush_batches_total", "Flush batches run."),
		linkFlushFailures:  link("flush_failures_total", "Artifacts a flush could not write below."),
		linkBackpressure:   link("backpressure_waits_total", "Stores that waited for the dirty bound."),
		linkDemotions:      link("demotions_total", "Evicted artifacts demoted through the link."),
	}
}

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	var s actors.EngineStats
	c.eng.Stats(&s)
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(c.loads, float64(s.Ops.Loads))
	counter(c.loadMisses, float64(s.Ops.LoadMisses))
	counter(c.loadedBytes, float64(s.Ops.LoadedBytes))
	counter(c.stores, float64(s.Ops.Stores))
	counter(c.storedBytes, float64(s.Ops.StoredBytes))
	counter(c.deletes, float64(s.Ops.Deletes))
	gauge(c.degraded, b2f(s.Degraded))
	gauge(c.actorsDown, float64(s.ActorsDown))
	counter(c.superseded, float64(s.Superseded))
	counter(c.evictionsLost, float64(s.EvictionsLost))
	counter(c.promotesDropped, float64(s.PromotesDropped))
	for _, t := range s.Tiers {
		l := []string{t.Name, t.Kind.String()}
		counter(c.tierHits, float64(t.Hits), l...)
		counter(c.tierMisses, float64(t.Misses), l...)
		counter(c.tierPuts, float64(t.Puts), l...)
		counter(c.tierDeletes, float64(t.Deletes), l...)
		counter(c.tierEvictions, float64(t.Evictions), l...)
		counter(c.tierEvictedBytes, float64(t.EvictedBytes), l...)
		counter(c.tierPromotions, float64(t.Promotions), l...)
		counter(c.tierDemotions, float64(t.Demotions), l...)
		counter(c.tierRestarts, float64(t.Restarts), l...)
		counter(c.tierCollisions, float64(t.Collisions), l...)
		counter(c.tierCorruptions, float64(t.Corruptions), l...)
		gauge(c.tierUsed, float64(t.UsedBytes), l...)
		gauge(c.tierCapacity, float64(t.CapacityBytes), l...)
		gauge(c.tierPending, float64(t.PendingBytes), l...)
		gauge(c.tierArtifacts, float64(t.Artifacts), l...)
		gauge(c.tierDown, b2f(t.Down), l...)
		gauge(c.tierFailed, b2f(t.Failed), l...)
	}
	for _, k := range s.Links {
		l := []string{k.Upper, k.Lower, k.Policy.String()}
		gauge(c.linkDirtyBytes, float64(k.DirtyBytes), l...)
		gauge(c.linkDirtyArtifacts, float64(k.DirtyArtifacts), l...)
		gauge(c.linkMaxDirty, float64(k.MaxDirtyBytes), l...)
		gauge(c.linkFlushLag, k.FlushLag.Seconds(), l...)
		counter(c.linkFlushed, float64(k.Flushed), l...)
		counter(c.linkFlushedBytes, float64(k.FlushedBytes), l...)
		counter(c.linkFlushBatches, float64(k.FlushBatches), l...)
		counter(c.linkFlushFailures, float64(k.FlushFailures), l...)
		counter(c.linkBackpressure, float64(k.BackpressureWaits), l...)
		counter(c.linkDemotions, float64(k.Demotions), l...)
		counter(c.linkDemoteFailures, float64(k.DemoteFailures), l...)
		counter(c.linkSuperseded, float64(k.Superseded), l...)
		gauge(c.linkDown, b2f(k.Down), l...)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// readyAndBuild are two small gauges dashboards and alerts key on:
// stratacache_ready (1 while /readyz answers 200) and stratacache_build_info
// (always 1; the version in its labels).
func readyAndBuild(ready func() bool, version string) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "stratacache_ready",
			Help: "1 while the node reports ready (/readyz), 0 while it starts, drains or stops.",
		}, func() float64 {
			if ready == nil || ready() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "stratacache_build_info",
			Help:        "Always 1; the labels say which build runs.",
			ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
	}
}

package admin

import (
	"time"

	"github.com/stratacache/stratacache/actors"
)

// Stats is the document GET /v1/stats serves (JSON; field names are an
// interface, listed in docs/operations.md). The admin server fills what the
// engine knows; Config.Status adds what only the node knows (name,
// addresses, protocol servers, cluster, configuration).
type Stats struct {
	Node    string    `json:"node"`
	Version string    `json:"version,omitempty"`
	Time    time.Time `json:"time"`
	Started time.Time `json:"started"`
	Ready   bool      `json:"ready"`
	// Degraded: a tier or link actor is down or a tier failed; the calls
	// that need them fail fast (Tiers[].Failed/Down, Links[].Down say
	// which).
	Degraded bool  `json:"degraded"`
	Addrs    Addrs `json:"addrs"`
	// Ops are the engine's counters since start (rates are in History).
	Ops     Ops           `json:"ops"`
	Tiers   []TierStatus  `json:"tiers"`
	Links   []LinkStatus  `json:"links"`
	Servers []ServerStats `json:"servers"`
	Cluster *ClusterStats `json:"cluster,omitempty"`
	// Errors are the most recent warnings and errors the node logged,
	// oldest first.
	Errors []LogRecord `json:"errors"`
	// History holds one Sample per sample interval, oldest first: the
	// whole window, or only samples newer than ?since=<unix ms>.
	History []Sample `json:"history"`
	// SampleIntervalMS is the history's sample interval.
	SampleIntervalMS int64 `json:"sample_interval_ms"`
	// Config is the node's effective configuration (YAML, secrets
	// redacted).
	Config string `json:"config,omitempty"`
}

// Addrs are the node's listen addresses ("" for a disabled port).
type Addrs struct {
	RESP   string `json:"resp,omitempty"`
	Native string `json:"native,omitempty"`
	Admin  string `json:"admin,omitempty"`
	Gossip string `json:"gossip,omitempty"`
	Peer   string `json:"peer,omitempty"`
}

// Ops are the engine's call counters (actors.OpStats) since start.
type Ops struct {
	Loads       uint64 `json:"loads"`
	LoadMisses  uint64 `json:"load_misses"`
	LoadedBytes uint64 `json:"loaded_bytes"`
	Stores      uint64 `json:"stores"`
	StoredBytes uint64 `json:"stored_bytes"`
	Deletes     uint64 `json:"deletes"`
}

// TierStatus is one tier of the chain, top first.
type TierStatus struct {
	Name          string `json:"name"`
	Kind          string `json:"kind"`
	CapacityBytes int64  `json:"capacity_bytes"`
	UsedBytes     int64  `json:"used_bytes"`
	FreeBytes     int64  `json:"free_bytes"`
	Artifacts     int64  `json:"artifacts"`
	Hits          uint64 `json:"hits"`
	Misses        uint64 `json:"misses"`
	// HitRate is Hits/(Hits+Misses) since start, null before any read.
	HitRate     *float64 `json:"hit_rate"`
	Puts        uint64   `json:"puts"`
	Evictions   uint64   `json:"evictions"`
	Promotions  uint64   `json:"promotions"`
	Demotions   uint64   `json:"demotions"`
	Corruptions uint64   `json:"corruptions"`
	Restarts    uint64   `json:"restarts"`
	// Failed: the tier failed for good after an unrecoverable write or
	// sync error (a failed fsync or msync). Down: its actor exceeded its
	// restart budget.
	Failed bool `json:"failed"`
	Down   bool `json:"down"`
}

// LinkStatus is one link between adjacent tiers.
type LinkStatus struct {
	Upper             string  `json:"upper"`
	Lower             string  `json:"lower"`
	Policy            string  `json:"policy"`
	DirtyBytes        int64   `json:"dirty_bytes"`
	MaxDirtyBytes     int64   `json:"max_dirty_bytes"`
	DirtyArtifacts    int64   `json:"dirty_artifacts"`
	FlushLagSeconds   float64 `json:"flush_lag_seconds"`
	Flushed           uint64  `json:"flushed"`
	FlushedBytes      uint64  `json:"flushed_bytes"`
	FlushFailures     uint64  `json:"flush_failures"`
	BackpressureWaits uint64  `json:"backpressure_waits"`
	Down              bool    `json:"down"` // its actor exceeded its restart budget
}

// ServerStats are one protocol server's counters.
type ServerStats struct {
	Protocol       string `json:"protocol"`
	Addr           string `json:"addr"`
	Connections    int64  `json:"connections"`
	Requests       int64  `json:"requests"`
	Hits           int64  `json:"hits"`
	Misses         int64  `json:"misses"`
	ProtocolErrors int64  `json:"protocol_errors"`
	AuthFailures   int64  `json:"auth_failures"`
}

// ClusterStats is the node's view of its cluster.
type ClusterStats struct {
	Self             string         `json:"self"`
	Members          []MemberStatus `json:"members"`
	DirectoryEntries int            `json:"directory_entries"`
	// Remote: this node's reads and demotes through the remote tier.
	RemoteHits         uint64 `json:"remote_hits"`
	RemoteMisses       uint64 `json:"remote_misses"`
	RemoteFetches      uint64 `json:"remote_fetches"`
	RemoteFetchBytes   uint64 `json:"remote_fetch_bytes"`
	RemoteDemotes      uint64 `json:"remote_demotes"`
	RemoteDemoteBytes  uint64 `json:"remote_demote_bytes"`
	RemotePeerFailures uint64 `json:"remote_peer_failures"`
	// Served: what this node's peer server answered for other nodes.
	ServedFetches    uint64 `json:"served_fetches"`
	ServedFetchBytes uint64 `json:"served_fetch_bytes"`
}

// MemberStatus is one member as this node sees it.
type MemberStatus struct {
	Name       string `json:"name"`
	State      string `json:"state"` // alive, suspect or failed
	Self       bool   `json:"self"`
	GossipAddr string `json:"gossip_addr"`
	PeerAddr   string `json:"peer_addr,omitempty"`
	NativeAddr string `json:"native_addr,omitempty"`
	RESPAddr   string `json:"resp_addr,omitempty"`
	Epoch      uint64 `json:"epoch,omitempty"`
	Load       uint32 `json:"load"`
	// Pool is the tier peers demote into (usually CXL), when it has one.
	PoolTier          string     `json:"pool_tier,omitempty"`
	PoolCapacityBytes int64      `json:"pool_capacity_bytes"`
	PoolFreeBytes     int64      `json:"pool_free_bytes"`
	Since             *time.Time `json:"since,omitempty"` // when a failed member failed
}

// Sample is one point of the charts: rates over the interval that ended at
// T.
type Sample struct {
	T int64 `json:"t"` // unix milliseconds
	// HitRate is the share of the interval's loads that found their
	// artifact in any tier (null: no loads).
	HitRate         *float64 `json:"hit_rate"`
	LoadsPerSec     float64  `json:"loads_per_sec"`
	StoresPerSec    float64  `json:"stores_per_sec"`
	ReadBytesPerSec float64  `json:"read_bytes_per_sec"`
	// WriteBytesPerSec counts stored payload bytes.
	WriteBytesPerSec float64 `json:"write_bytes_per_sec"`
	// DirtyBytes is the write-back bytes not yet flushed, all links.
	DirtyBytes int64 `json:"dirty_bytes"`
}

// fillEngine fills the engine's part of st from es.
func fillEngine(st *Stats, es *actors.EngineStats) {
	o := es.Ops
	st.Ops = Ops{Loads: o.Loads, LoadMisses: o.LoadMisses, LoadedBytes: o.LoadedBytes,
		Stores: o.Stores, StoredBytes: o.StoredBytes, Deletes: o.Deletes}
	st.Degraded = es.Degraded
	st.Tiers = st.Tiers[:0]
	for _, t := range es.Tiers {
		ts := TierStatus{
			Name: t.Name, Kind: t.Kind.String(),
			CapacityBytes: t.CapacityBytes, UsedBytes: t.UsedBytes, FreeBytes: max(t.CapacityBytes-t.UsedBytes, 0),
			Artifacts: t.Artifacts, Hits: t.Hits, Misses: t.Misses, Puts: t.Puts, Evictions: t.Evictions,
			Promotions: t.Promotions, Demotions: t.Demotions, Corruptions: t.Corruptions, Restarts: t.Restarts,
			Failed: t.Failed, Down: t.Down,
		}
		ts.HitRate = ratio(t.Hits, t.Hits+t.Misses)
		st.Tiers = append(st.Tiers, ts)
	}
	st.Links = st.Links[:0]
	for _, l := range es.Links {
		st.Links = append(st.Links, LinkStatus{
			Upper: l.Upper, Lower: l.Lower, Policy: l.Policy.String(),
			DirtyBytes: l.DirtyBytes, MaxDirtyBytes: l.MaxDirtyBytes, DirtyArtifacts: l.DirtyArtifacts,
			FlushLagSeconds: l.FlushLag.Seconds(), Flushed: l.Flushed, FlushedBytes: l.FlushedBytes,
			FlushFailures: l.FlushFailures, BackpressureWaits: l.BackpressureWaits, Down: l.Down,
		})
	}
}

// ratio is num/den, nil when den is 0 (no reads: no rate, not 0%).
func ratio(num, den uint64) *float64 {
	if den == 0 {
		return nil
	}
	r := float64(num) / float64(den)
	return &r
}

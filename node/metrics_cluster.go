package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratacache/stratacache/cluster"
)

// clusterCollector exports the cluster's counters (one Stats snapshot and
// one member list per scrape) for dashboards and alerts: members by state,
// the directory, remote reads and demotes, what the peer server served,
// gossip deltas. The cluster package knows nothing of Prometheus.
type clusterCollector struct {
	cn *cluster.Node

	members, dirEntries, dirEvicted                     *prometheus.Desc
	remoteReads, remoteHits, remoteMisses               *prometheus.Desc
	remoteFetches, remoteFetchBytes, remotePeerFailures *prometheus.Desc
	remoteDemotes, remoteDemoteBytes, remoteDemoteFails *prometheus.Desc
	servedFetches, servedFetchBytes, servedDemotes      *prometheus.Desc
	deltasSent, deltasReceived, deltasBad               *prometheus.Desc
}

func newClusterCollector(cn *cluster.Node) *clusterCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("stratacache_cluster_"+name, help, labels, nil)
	}
	return &clusterCollector{
		cn:                 cn,
		members:            d("members", "Members this node knows, by state (alive, suspect, failed), itself included.", "state"),
		dirEntries:         d("directory_entries", "Entries in this node's ownership directory."),
		dirEvicted:         d("directory_evictions_total", "Directory entries dropped to stay within the directory's cap."),
		remoteReads:        d("remote_reads_total", "Reads that reached the remote tier (every local tier missed)."),
		remoteHits:         d("remote_hits_total", "Remote reads a peer answered with the artifact."),
		remoteMisses:       d("remote_misses_total", "Remote reads no peer could answer."),
		remoteFetches:      d("remote_fetches_total", "Fetch requests sent to peers."),
		remoteFetchBytes:   d("remote_fetch_bytes_total", "Payload bytes fetched from peers."),
		remotePeerFailures: d("remote_peer_failures_total", "Peer requests that timed out, were refused or broke."),
		remoteDemotes:      d("remote_demotes_total", "Artifacts demoted to a peer's pool."),
		remoteDemoteBytes:  d("remote_demote_bytes_total", "Payload bytes demoted to peers."),
		remoteDemoteFails:  d("remote_demote_failures_total", "Demotes to a peer that failed."),
		servedFetches:      d("served_fetches_total", "Fetches this node's peer server answered for other nodes."),
		servedFetchBytes:   d("served_fetch_bytes_total", "Payload bytes this node's peer server sent to other nodes."),
		servedDemotes:      d("served_demotes_total", "Demotes other nodes made into this node."),
		deltasSent:         d("deltas_sent_total", "Directory deltas this node broadcast."),
		deltasReceived:     d("deltas_received_total", "Directory deltas received by gossip."),
		deltasBad:          d("deltas_bad_total", "Gossiped directory deltas that did not decode."),
	}
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	byState := map[string]int{cluster.StateAlive: 0, cluster.StateSuspect: 0, cluster.StateFailed: 0}
	for _, m := range c.cn.MemberStatuses() {
		byState[m.State]++
	}
	for state, k := range byState {
		gauge(c.members, float64(k), state)
	}
	s := c.cn.Stats()
	gauge(c.dirEntries, float64(s.DirectoryEntries))
	counter(c.dirEvicted, s.DirectoryEvicted)
	r := s.Remote
	counter(c.remoteReads, r.Reads)
	counter(c.remoteHits, r.Hits)
	counter(c.remoteMisses, r.Misses)
	counter(c.remoteFetches, r.Fetches)
	counter(c.remoteFetchBytes, r.FetchBytes)
	counter(c.remotePeerFailures, r.PeerFailures)
	counter(c.remoteDemotes, r.Demotes)
	counter(c.remoteDemoteBytes, r.DemoteBytes)
	counter(c.remoteDemoteFails, r.DemoteFailures)
	counter(c.servedFetches, s.Peer.Fetches)
	counter(c.servedFetchBytes, s.Peer.FetchBytes)
	counter(c.servedDemotes, s.Peer.Demotes)
	counter(c.deltasSent, s.DeltasSent)
	counter(c.deltasReceived, s.DeltasReceived)
	counter(c.deltasBad, s.DeltasBad)
}

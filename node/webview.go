package node

import (
	"log/slog"
	"os"

	"github.com/stratacache/stratacache/cluster"
	"github.com/stratacache/stratacache/node/admin"
)

// withErrorLog wraps log so that its warnings and errors also land in the
// web view's recent-errors list. New wraps the logger before it builds the
// engine and the cluster, so their messages are kept too.
func withErrorLog(log *slog.Logger) (*slog.Logger, *admin.ErrorLog) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	el := admin.NewErrorLog(admin.DefaultRecentErrors)
	return slog.New(el.Handler(log.Handler())), el
}

// adminStatus adds what only the node knows to a /v1/stats snapshot: its
// name and addresses, the protocol servers, the cluster and the config.
func (n *Node) adminStatus(st *admin.Stats) {
	a := n.Addrs()
	st.Addrs = admin.Addrs{RESP: a.RESP, Native: a.Native, Admin: a.Admin}
	st.Config = n.cfg.YAML()
	if n.resp != nil {
		s := n.resp.Stats()
		st.Servers = append(st.Servers, admin.ServerStats{Protocol: "resp", Addr: a.RESP, Connections: s.ConnsCurrent,
			Requests: s.Commands, Hits: s.Hits, Misses: s.Misses, ProtocolErrors: s.ProtocolErrors, AuthFailures: s.AuthFailures})
	}
	if n.native != nil {
		s := n.native.Stats()
		st.Servers = append(st.Servers, admin.ServerStats{Protocol: "native", Addr: a.Native, Connections: s.ConnsCurrent,
			Requests: s.Requests, Hits: s.Hits, Misses: s.Misses, ProtocolErrors: s.ProtocolErrors, AuthFailures: s.AuthFailures})
	}
	if n.cluster == nil {
		if host, err := os.Hostname(); err == nil {
			st.Node = host
		}
		return
	}
	cn := n.cluster
	st.Node = cn.Name()
	st.Addrs.Gossip, st.Addrs.Peer = cn.GossipAddr(), cn.PeerAddr()
	cs := cn.Stats()
	c := &admin.ClusterStats{
		Self:               cn.Name(),
		DirectoryEntries:   cs.DirectoryEntries,
		RemoteHits:         cs.Remote.Hits,
		RemoteMisses:       cs.Remote.Misses,
		RemoteFetches:      cs.Remote.Fetches,
		RemoteFetchBytes:   cs.Remote.FetchBytes,
		RemoteDemotes:      cs.Remote.Demotes,
		RemoteDemoteBytes:  cs.Remote.DemoteBytes,
		RemotePeerFailures: cs.Remote.PeerFailures,
		ServedFetches:      cs.Peer.Fetches,
		ServedFetchBytes:   cs.Peer.FetchBytes,
	}
	for _, m := range cn.MemberStatuses() {
		c.Members = append(c.Members, memberStatus(m))
	}
	st.Cluster = c
}

func memberStatus(m cluster.MemberStatus) admin.MemberStatus {
	ms := admin.MemberStatus{
		Name: m.Name, State: m.State, Self: m.Self, GossipAddr: m.GossipAddr,
		PeerAddr: m.Meta.PeerAddr, NativeAddr: m.Meta.NativeAddr, RESPAddr: m.Meta.RESPAddr,
		Epoch: m.Meta.Epoch, Load: m.Meta.Load,
	}
	if p := m.Meta.Pool; p >= 0 && p < len(m.Meta.Tiers) {
		t := m.Meta.Tiers[p]
		ms.PoolTier, ms.PoolCapacityBytes, ms.PoolFreeBytes = t.Name, t.CapacityBytes, t.FreeBytes
	}
	if !m.Since.IsZero() {
		since := m.Since.UTC()
		ms.Since = &since
	}
	return ms
}

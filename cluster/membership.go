package cluster

// Members as seen from the event callbacks, this node's own metadata,
// rejoining failed members and fetching a new member's entries.

import (
	"log/slog"
	"net"
	"sort"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/placement"
	"github.com/stratacache/stratacache/tiers"
)

// Members lists the live members, this node included, sorted by name.
func (n *Node) Members() []Member {
	n.memMu.RLock()
	out := make([]Member, 0, len(n.members)+1)
	for _, m := range n.members {
		out = append(out, m)
	}
	n.memMu.RUnlock()
	out = append(out, Member{Name: n.cfg.NodeName, GossipAddr: n.GossipAddr(), Meta: n.selfMeta(), Self: true})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// MemberInfos lists the live members (this node included, by name) in the
// wire form clients see them: what a node's native port answers OP_MEMBERS
// with, and what clientsdk.ClusterMembers takes in a process that runs
// this node, so the SDK follows membership without importing cluster/.
func (n *Node) MemberInfos() []*messages.MemberInfo {
	ms := n.Members()
	out := make([]*messages.MemberInfo, 0, len(ms))
	for _, m := range ms {
		out = append(out, &messages.MemberInfo{Name: m.Name, NativeAddr: m.Meta.NativeAddr, RespAddr: m.Meta.RESPAddr,
			PeerAddr: m.Meta.PeerAddr, Load: m.Meta.Load, Epoch: m.Meta.Epoch})
	}
	return out
}

// peersSnapshot lists the live members other than this node.
func (n *Node) peersSnapshot() []Member {
	n.memMu.RLock()
	defer n.memMu.RUnlock()
	out := make([]Member, 0, len(n.members))
	for _, m := range n.members {
		out = append(out, m)
	}
	return out
}

func (n *Node) member(name string) (Member, bool) {
	n.memMu.RLock()
	m, ok := n.members[name]
	n.memMu.RUnlock()
	return m, ok
}

// memberNames lists live members' names, this node included.
func (n *Node) memberNames() []string {
	n.memMu.RLock()
	names := make([]string, 0, len(n.members)+1)
	for name := range n.members {
		names = append(names, name)
	}
	n.memMu.RUnlock()
	return append(names, n.cfg.NodeName)
}

// Home is the rendezvous home node of id among the live members.
func (n *Node) Home(id artifact.ID) string { return placement.Home(id.Hash, n.memberNames()) }

// selfMeta is this node's metadata now.
func (n *Node) selfMeta() NodeMeta {
	m := NodeMeta{Epoch: n.cfg.Epoch, PeerAddr: n.PeerAddr(), Pool: n.pool}
	var s tiers.Stats
	for _, t := range n.local {
		t.Stats(&s)
		free := s.CapacityBytes - s.UsedBytes - s.PendingBytes
		m.Tiers = append(m.Tiers, TierUse{Name: t.Name(), Kind: t.Kind(), CapacityBytes: s.CapacityBytes, FreeBytes: max(free, 0)})
	}
	m.Load = uint32(max(n.remote.inflight.Load(), 0))
	if a := n.clientAddrs.Load(); a != nil {
		m.NativeAddr, m.RESPAddr = a[0], a[1]
	}
	return m
}

// SetClientAddrs publishes the node's client ports (native protocol, RESP)
// in its gossiped metadata, so that clients following the cluster can route
// to it. An unspecified host (0.0.0.0, ::, empty) is replaced by the
// node's gossip IP. The next metadata round spreads it.
func (n *Node) SetClientAddrs(native, resp string) {
	fix := func(a string) string {
		host, port, err := net.SplitHostPort(a)
		if err != nil || a == "" {
			return a
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			return net.JoinHostPort(n.gossipIP, port)
		}
		return a
	}
	n.clientAddrs.Store(&[2]string{fix(native), fix(resp)})
}

// claimFree lowers a peer's advertised free pool bytes after a demote into
// it, until its next metadata update, so that a burst of demotions does
// not all pick the same peer from the same stale figure.
func (n *Node) claimFree(name string, size int64) {
	n.memMu.Lock()
	defer n.memMu.Unlock()
	m, ok := n.members[name]
	if !ok || m.Meta.Pool < 0 || m.Meta.Pool >= len(m.Meta.Tiers) {
		return
	}
	t := append([]TierUse(nil), m.Meta.Tiers...)
	t[m.Meta.Pool].FreeBytes = max(t[m.Meta.Pool].FreeBytes-size, 0)
	m.Meta.Tiers = t
	n.members[name] = m
}

// failedMember is a member declared dead, retried by reconnectLoop.
type failedMember struct {
	addr  string
	since time.Time
}

// reconnectLoop rejoins failed members: after a partition heals, each side
// has declared the other dead and memberlist would never merge them again
// (it neither probes nor pushes/pulls with dead nodes).
func (n *Node) reconnectLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.ReconnectInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		n.retrySeeds()
		var addrs []string
		n.memMu.Lock()
		for name, f := range n.failed {
			if time.Since(f.since) > n.cfg.ReconnectTimeout {
				delete(n.failed, name)
				continue
			}
			addrs = append(addrs, f.addr)
		}
		n.memMu.Unlock()
		for _, a := range addrs {
			select {
			case <-n.stop:
				return
			default:
			}
			// A dial to a dead address can take memberlist's TCPTimeout;
			// Close does not wait for it.
			done := make(chan struct{})
			go func(a string) {
				defer close(done)
				if _, err := n.ml.Join([]string{a}); err != nil {
					n.log.Debug("rejoin failed member", slog.String("addr", a), slog.Any("err", err))
				}
			}(a)
			select {
			case <-done:
			case <-n.stop:
				return
			}
		}
	}
}

// retrySeeds joins through the seeds the start could not reach; once one
// answers, the rest of the cluster comes with it and the list is cleared.
// After ReconnectTimeout the node stops trying and stays alone. Like the
// member rejoins below, the dial runs aside so that Close never waits for
// memberlist's TCP timeout.
func (n *Node) retrySeeds() {
	n.memMu.RLock()
	seeds, startAt := n.seeds, n.startAt
	n.memMu.RUnlock()
	if len(seeds) == 0 {
		return
	}
	if time.Since(startAt) > n.cfg.ReconnectTimeout {
		n.log.Error("giving up on the join seeds; this node stays alone", slog.Any("seeds", seeds))
		n.memMu.Lock()
		n.seeds = nil
		n.memMu.Unlock()
		return
	}
	done := make(chan int, 1)
	go func() {
		k, err := n.ml.Join(seeds)
		if err != nil {
			k = 0
		}
		done <- k
	}()
	select {
	case k := <-done:
		if k > 0 {
			n.log.Info("joined through a seed that was not up at start", slog.Any("seeds", seeds))
			n.memMu.Lock()
			n.seeds = nil
			n.memMu.Unlock()
		}
	case <-n.stop:
	}
}

// Keyring is memberlist's keyring when gossip is encrypted (nil otherwise):
// AddKey, UseKey and RemoveKey rotate the key of a running node
// (docs/cluster.md).
func (n *Node) Keyring() *memberlist.Keyring {
	if n.ml == nil {
		return nil
	}
	return n.mlKeyring
}

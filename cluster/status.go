package cluster

import (
	"sort"
	"time"

	"github.com/hashicorp/memberlist"
)

// Member states as this node's failure detector reports them.
const (
	// StateAlive: the member answers probes.
	StateAlive = "alive"
	// StateSuspect: a probe went unanswered; memberlist declares the member
	// dead unless it refutes the suspicion in time.
	StateSuspect = "suspect"
	// StateFailed: declared dead or gone (memberlist reports a graceful
	// leave the same way); this node keeps trying to rejoin it for
	// Config.ReconnectTimeout.
	StateFailed = "failed"
)

// MemberStatus is a member with its state, for operators (the admin web
// view). Meta is empty for a failed member.
type MemberStatus struct {
	Member
	State string
	// Since is when a failed member was declared dead (zero otherwise).
	Since time.Time
}

// MemberStatuses lists the members this node knows, sorted by name: the
// live ones (alive or suspect, this node included) and the failed ones it
// still tries to rejoin. Like Members, call it after Start has returned.
func (n *Node) MemberStatuses() []MemberStatus {
	suspect := map[string]bool{}
	if n.ml != nil {
		for _, m := range n.ml.Members() {
			if m.State == memberlist.StateSuspect {
				suspect[m.Name] = true
			}
		}
	}
	live := n.Members()
	out := make([]MemberStatus, 0, len(live))
	for _, m := range live {
		st := StateAlive
		if suspect[m.Name] {
			st = StateSuspect
		}
		out = append(out, MemberStatus{Member: m, State: st})
	}
	n.memMu.RLock()
	for name, f := range n.failed {
		out = append(out, MemberStatus{Member: Member{Name: name, GossipAddr: f.addr}, State: StateFailed, Since: f.since})
	}
	n.memMu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

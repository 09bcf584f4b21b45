package cluster

import (
	"testing"
	"time"
)

// Three members are alive; after one dies without leaving, the others
// first suspect it and then list it as failed (no longer among Members).
func TestMemberStatuses(t *testing.T) {
	mn, nodes := startCluster(t, 3, clusterOpts{})
	for _, tn := range nodes {
		st := tn.n.MemberStatuses()
		if len(st) != 3 {
			t.Fatalf("%s: %d statuses, want 3: %+v", tn.name, len(st), st)
		}
		self := 0
		for _, s := range st {
			if s.State != StateAlive {
				t.Errorf("%s sees %s as %s", tn.name, s.Name, s.State)
			}
			if s.Self {
				self++
				if s.Name != tn.name {
					t.Errorf("%s: self is %s", tn.name, s.Name)
				}
			}
			if s.Meta.PeerAddr == "" {
				t.Errorf("%s: %s has no peer address", tn.name, s.Name)
			}
		}
		if self != 1 {
			t.Errorf("%s: %d self entries", tn.name, self)
		}
	}
	victim := nodes[2]
	mn.Kill(victim.name)
	_ = victim.n.shutdown(false)
	stateOf := func(tn *tnode, name string) string {
		for _, s := range tn.n.MemberStatuses() {
			if s.Name == name {
				return s.State
			}
		}
		return ""
	}
	waitFor(t, 15*time.Second, "the survivors list the victim as failed", func() bool {
		return stateOf(nodes[0], victim.name) == StateFailed && stateOf(nodes[1], victim.name) == StateFailed
	})
	for _, s := range nodes[0].n.MemberStatuses() {
		if s.Name == victim.name && (s.Since.IsZero() || s.GossipAddr == "") {
			t.Errorf("failed member without since/address: %+v", s)
		}
	}
}

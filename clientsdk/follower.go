package clientsdk

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/stratacache/stratacache/holdings"
	"github.com/stratacache/stratacache/messages"
)

// MemberSource lists the cluster's current members (with PeerAddr set).
type MemberSource func(ctx context.Context) ([]Member, error)

// StaticMembers is a MemberSource of a fixed list.
func StaticMembers(ms ...Member) MemberSource {
	return func(context.Context) ([]Member, error) { return ms, nil }
}

// ClusterMembers follows the membership of a cluster node running in the
// same process (embedded deployments): members is its gossip view in the
// form a node's native port answers OP_MEMBERS with, so pass
// (*cluster.Node).MemberInfos (or (*node.Node).MemberInfos). A member's
// Addr is the native address it gossips (published by node/ once its ports
// are bound); a member without one has no Addr: the index and Prefetch
// work, and data requests do not route to it. The SDK imports neither
// cluster/ nor node/: the function value is the whole coupling.
func ClusterMembers(members func() []*messages.MemberInfo) MemberSource {
	return func(context.Context) ([]Member, error) { return membersOf(members()), nil }
}

// membersOf turns the wire form of members (OP_MEMBERS) into Members.
func membersOf(ms []*messages.MemberInfo) []Member {
	out := make([]Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, Member{Name: m.GetName(), Addr: m.GetNativeAddr(), PeerAddr: m.GetPeerAddr(), Load: float64(m.GetLoad())})
	}
	return out
}

// NodeMembers follows the cluster's membership through nodes' native ports
// (OP_MEMBERS: the node's gossip view), for clients outside the cluster's
// process: each call asks the seeds in turn and returns the first
// non-empty answer, so joins and departures reach the client at the
// Follower's polling interval. A member that has not published its native
// address yet comes without Addr (the index and Prefetch work; data
// requests skip it). A seed that runs alone answers with no members and
// the next seed is asked.
func NodeMembers(c *Client, seeds ...string) MemberSource {
	return func(ctx context.Context) ([]Member, error) {
		if len(seeds) == 0 {
			return nil, ErrNoNodes
		}
		var errs []error
		for _, addr := range seeds {
			ms, err := askMembers(ctx, c, addr)
			if err == nil && len(ms) == 0 {
				err = fmt.Errorf("clientsdk: %s reports no cluster members (a node running alone)", addr)
			}
			if err == nil {
				return ms, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
}

func askMembers(ctx context.Context, c *Client, addr string) ([]Member, error) {
	cn, err := c.pool.get(ctx, addr)
	if err != nil {
		return nil, err
	}
	_, err = cn.roundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_MEMBERS})
	var out []Member
	if err == nil {
		// Read the reply header before the connection goes back to the
		// pool, where another caller may reuse it.
		out = membersOf(cn.hdr.Members)
	}
	c.pool.put(addr, cn)
	if err != nil {
		c.pool.drop(addr)
		return nil, err
	}
	return out, nil
}

// Follower keeps an Index current from the members' change feeds over
// their peer ports (the cluster's OP_PEER_SUBSCRIBE): Run holds one
// stream per member open and applies its changes as the node pushes them
// (stream.go); Sync polls every member once for the changes after the
// sequence number it applied last. Either way a member's changes carry
// per-node sequence numbers, so what a round or a frame costs is in
// proportion to what changed, not to what the nodes hold, and a member
// is sent its whole holding set (a resync of that member only) when it is
// new to the follower, restarted (a new epoch), further behind than the
// member's log keeps, or after a gap in its stream. The client never
// joins the gossip and never counts as a member (it would otherwise take
// a share of rendezvous placement). docs/clientsdk.md says why this
// design was chosen. Sync is not safe for concurrent use with itself; the
// Index it feeds is, and Run may run beside Sync.
type Follower struct {
	ix      *Index
	c       *Client
	members MemberSource

	mu     sync.Mutex
	owners map[uint64]string           // artifact id hash -> the member the index lists
	held   map[string]map[uint64]uint8 // member -> what it holds, and in which medium
	pos    map[string]feedPos          // member -> where its feed is
	feed   holdings.Feed
	stats  FollowerStats

	// streamIdle bounds the wait for a stream's next frame (stream.go).
	streamIdle time.Duration
	// testDrop, when set, drops that many decoded stream frames of a
	// member unapplied (tests: a lost frame the next one must reveal).
	testDrop map[string]int
}

// feedPos is where the follower is in one member's change feed.
type feedPos struct{ epoch, seq uint64 }

// FollowerStats counts the Follower's work.
type FollowerStats struct {
	// Polls: change-feed requests answered (Sync); Resyncs: replies and
	// stream frames that carried a member's whole holding set.
	Polls, Resyncs uint64
	// Changes applied and feed payload bytes received.
	Changes, Bytes uint64
	// Streams: change streams opened (Run); Frames: stream frames
	// received; Gaps: frames that did not follow what was applied (each
	// restarts that member's stream from a resync).
	Streams, Frames, Gaps uint64
}

// NewFollower feeds ix from members through c's connections (c's token is
// presented to the nodes' peer ports, which map it to the client or
// subscriber role).
func NewFollower(ix *Index, c *Client, members MemberSource) *Follower {
	return &Follower{ix: ix, c: c, members: members, owners: map[uint64]string{},
		held: map[string]map[uint64]uint8{}, pos: map[string]feedPos{}, streamIdle: defaultStreamIdle}
}

// Stats returns the Follower's counters.
func (f *Follower) Stats() FollowerStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// Sync refreshes members and every member's changes once. A member that
// cannot be reached (ErrUnavailable) is marked down in the index at once:
// PrefixLookup, ScoreNodes and Scores leave it out, and later Syncs retry
// it with backoff (Index.RetryDue) and mark it up when it answers. It
// keeps its entries until it leaves the member list. The first error is
// returned.
func (f *Follower) Sync(ctx context.Context) error {
	ms, err := f.members(ctx)
	if err != nil {
		return err
	}
	f.ix.SetMembers(ms)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgetDepartedLocked(ms)
	var first error
	for _, m := range ms {
		if m.PeerAddr == "" || !f.ix.RetryDue(m.Name) {
			continue // a member marked down is retried once its backoff passed
		}
		err := f.syncMember(ctx, m)
		switch {
		case errors.Is(err, ErrUnavailable):
			f.c.pool.drop(peerPrefix + m.PeerAddr)
			f.ix.MarkDown(m.Name, err) // out of the scores at once
		case !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
			f.ix.MarkUp(m.Name) // it answered
		}
		if err != nil && first == nil {
			first = fmt.Errorf("clientsdk: change feed of %s: %w", m.Name, err)
		}
	}
	return first
}

// forgetDepartedLocked drops what members no longer in ms held.
func (f *Follower) forgetDepartedLocked(ms []Member) {
	live := map[string]bool{}
	for _, m := range ms {
		live[m.Name] = true
	}
	for name, set := range f.held {
		if !live[name] {
			delete(f.held, name)
			delete(f.pos, name)
			for h := range set {
				f.dropLocked(name, h)
			}
		}
	}
}

// dropLocked forgets that member holds h; the index then lists another
// member that holds it, if any.
func (f *Follower) dropLocked(member string, h uint64) {
	if f.owners[h] != member {
		return
	}
	for other, set := range f.held {
		if k, ok := set[h]; ok && other != member {
			f.owners[h] = other
			f.ix.Put(other, h, TierOfKind(k))
			return
		}
	}
	delete(f.owners, h)
	f.ix.Delete(h)
}

func (f *Follower) syncMember(ctx context.Context, m Member) error {
	key := peerPrefix + m.PeerAddr
	cn, err := f.c.pool.get(ctx, key)
	if err != nil {
		return err
	}
	p := f.pos[m.Name]
	b, err := cn.roundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_PEER_SUBSCRIBE,
		Attrs: map[string]string{"epoch": strconv.FormatUint(p.epoch, 10), "since": strconv.FormatUint(p.seq, 10)}})
	if err == nil {
		f.stats.Bytes += uint64(len(b))
		err = holdings.DecodeFeed(b, &f.feed) // before the connection is reused
	}
	f.c.pool.put(key, cn)
	if err != nil {
		return err
	}
	f.stats.Polls++
	f.applyLocked(m.Name, &f.feed)
	return nil
}

// applyLocked applies one reply or stream frame of member's feed (its
// place checked by the caller) and moves the member's place to its end.
func (f *Follower) applyLocked(member string, fd *holdings.Feed) {
	f.stats.Changes += uint64(len(fd.Changes))
	set := f.held[member]
	if set == nil {
		set = map[uint64]uint8{}
		f.held[member] = set
	}
	if fd.Resync {
		f.stats.Resyncs++
		now := make(map[uint64]struct{}, len(fd.Changes))
		for _, c := range fd.Changes {
			now[c.Hash] = struct{}{}
		}
		for h := range set {
			if _, still := now[h]; !still {
				delete(set, h)
				f.dropLocked(member, h)
			}
		}
	}
	for _, c := range fd.Changes {
		if c.Del {
			delete(set, c.Hash)
			f.dropLocked(member, c.Hash)
			continue
		}
		set[c.Hash] = c.Kind
		// The newest report wins the index's one slot, as in the
		// cluster's directory.
		f.owners[c.Hash] = member
		f.ix.Put(member, c.Hash, TierOfKind(c.Kind))
	}
	f.pos[member] = feedPos{fd.Epoch, fd.Seq}
}

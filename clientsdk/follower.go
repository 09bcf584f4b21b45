package clientsdk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stratacache/stratacache/messages"
)

// ErrBadDirectory: a directory snapshot from a node that does not decode.
var ErrBadDirectory = errors.New("clientsdk: bad directory snapshot")

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

// Follower keeps an Index current: on every Sync it takes the members from
// its MemberSource and asks each, over its peer port, for a snapshot of the
// ownership entries it holds itself (the cluster's OP_PEER_DIR_SYNC), so
// the client never joins the gossip and never counts as a member (it
// would otherwise take a share of rendezvous placement). docs/clientsdk.md
// says why this design was chosen. Sync is not safe for concurrent use
// with itself; the Index it feeds is.
type Follower struct {
	ix      *Index
	c       *Client
	members MemberSource

	mu     sync.Mutex
	owners map[uint64]ownerVer            // artifact id hash -> owning member, version
	owned  map[string]map[uint64]struct{} // member -> what it owned at its last snapshot
	rec    []dirRecord
}

type ownerVer struct {
	node string
	ver  uint64
}

// NewFollower feeds ix from members through c's connections (c's
// PeerToken is presented to the nodes' peer ports).
func NewFollower(ix *Index, c *Client, members MemberSource) *Follower {
	return &Follower{ix: ix, c: c, members: members, owners: map[uint64]ownerVer{}, owned: map[string]map[uint64]struct{}{}}
}

// Run syncs every interval until ctx ends; errors of one round are
// passed to onErr (nil: ignored) and the next round tries again.
func (f *Follower) Run(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := f.Sync(ctx); err != nil && onErr != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sync refreshes members and every member's entries once. A member that
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
	live := map[string]bool{}
	for _, m := range ms {
		live[m.Name] = true
	}
	for name, set := range f.owned {
		if !live[name] {
			for h := range set {
				if f.owners[h].node == name {
					delete(f.owners, h)
				}
			}
			delete(f.owned, name)
		}
	}
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
			first = fmt.Errorf("clientsdk: directory of %s: %w", m.Name, err)
		}
	}
	return first
}

func (f *Follower) syncMember(ctx context.Context, m Member) error {
	key := peerPrefix + m.PeerAddr
	cn, err := f.c.pool.get(ctx, key)
	if err != nil {
		return err
	}
	b, err := cn.roundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_PEER_DIR_SYNC})
	f.c.pool.put(key, cn)
	if err != nil {
		return err
	}
	now := map[uint64]struct{}{}
	if len(b) > 0 {
		owner, recs, err := decodeDirSnapshot(b, f.rec[:0])
		f.rec = recs
		if err != nil {
			return err
		}
		if owner != m.Name {
			return fmt.Errorf("%w: snapshot of %q from member %q", ErrBadDirectory, owner, m.Name)
		}
		for _, r := range recs {
			if r.del {
				continue
			}
			now[r.hash] = struct{}{}
			cur, ok := f.owners[r.hash]
			if ok && cur.node != m.Name && cur.ver > r.ver {
				continue // a newer owner elsewhere
			}
			f.owners[r.hash] = ownerVer{m.Name, r.ver}
			f.ix.Put(m.Name, r.hash, TierOfKind(r.kind))
		}
	}
	for h := range f.owned[m.Name] {
		if _, still := now[h]; !still && f.owners[h].node == m.Name {
			delete(f.owners, h)
			f.ix.Delete(h)
		}
	}
	f.owned[m.Name] = now
	return nil
}

type dirRecord struct {
	hash uint64
	kind uint8 // tier medium (TierOfKind)
	ver  uint64
	del  bool
}

// decodeDirSnapshot reads the directory delta a node sends for
// OP_PEER_DIR_SYNC, per the layout documented in cluster/delta.go:
//
//	version(1)=1 flags(1) owner(uvarint len + bytes) epoch(uvarint)
//	base(uvarint) [asOf(uvarint) if flags&1] count(uvarint)
//	record = op(1: 1 put, 2 del) hash(8 LE) [kind(1) if put] ver-base(uvarint)
func decodeDirSnapshot(b []byte, recs []dirRecord) (string, []dirRecord, error) {
	bad := func(what string) (string, []dirRecord, error) {
		return "", recs, fmt.Errorf("%w: %s", ErrBadDirectory, what)
	}
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	if len(b) < 2 || b[0] != 1 {
		return bad("version")
	}
	flags := b[1]
	b = b[2:]
	ol, ok := uv()
	if !ok || ol == 0 || ol > 128 || uint64(len(b)) < ol {
		return bad("owner")
	}
	owner := string(b[:ol])
	b = b[ol:]
	if _, ok := uv(); !ok { // epoch
		return bad("epoch")
	}
	base, ok := uv()
	if !ok {
		return bad("base")
	}
	if flags&1 != 0 {
		if _, ok := uv(); !ok {
			return bad("as-of")
		}
	}
	n, ok := uv()
	if !ok || n > uint64(len(b))/10 {
		return bad("count")
	}
	for i := uint64(0); i < n; i++ {
		if len(b) < 9 {
			return bad("record")
		}
		r := dirRecord{hash: binary.LittleEndian.Uint64(b[1:9])}
		switch b[0] {
		case 1:
			if len(b) < 10 {
				return bad("record")
			}
			r.kind = b[9]
			b = b[10:]
		case 2:
			r.del = true
			b = b[9:]
		default:
			return bad("record op")
		}
		off, ok := uv()
		if !ok {
			return bad("record version")
		}
		r.ver = base + off
		recs = append(recs, r)
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	return owner, recs, nil
}

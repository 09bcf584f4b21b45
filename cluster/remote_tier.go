package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// RemoteTierName is the remote tier's name in the chain.
const RemoteTierName = "remote"

// RemoteStats counts the remote tier's work.
type RemoteStats struct {
	Reads                 uint64 // View/Get calls that reached the remote tier
	Hits, Misses          uint64 // reads answered by a peer / not
	Fetches, Shared       uint64 // peer requests made / callers served by a fetch shared with others
	FetchBytes            uint64
	PeerFailures          uint64 // timeouts, refused or broken connections (all misses)
	Demotes, DemoteBytes  uint64
	DemoteFailures        uint64
	NoTarget              uint64 // demotes with no peer having room
	StaleEntries          uint64 // directory entries dropped after the owner missed
	Deletes, DeleteForwds uint64
	PassedBy              uint64 // write-through stores acknowledged without a demote
	Handoffs              uint64 // reads (promotions) served from a payload just fetched
	// The demote queue (victims on their way to a peer, off the writer's
	// path): victims queued, refused because it was full (dropped),
	// superseded by a store or delete before they were sent (or undone
	// after), and waiting or being sent now (entries and bytes).
	DemotesQueued, QueueFull, DemotesCancelled uint64
	DemotesSettled                             uint64 // queued victims that left the queue, whatever the outcome
	QueueLen                                   int
	QueueBytes                                 int64
}

type remoteCounters struct {
	reads, hits, misses, fetches, shared, fetchBytes, peerFailures atomic.Uint64
	demotes, demoteBytes, demoteFailures, noTarget, stale          atomic.Uint64
	deletes, deleteFwd, passedBy, handoffs                         atomic.Uint64
	queued, queueFull, cancelled                                   atomic.Uint64
}

// RemoteTier is the other nodes' pools as one tier: the last tier of the
// local chain. Reads ask the owner the directory names, else the artifact's
// home node; a timeout or a failure is a miss (tiers.ErrNotFound), never an
// error, and one artifact is fetched once however many callers ask at the
// same time. Puts (demotions of the last local tier's victims) are queued
// (demoteQueue: bounded, off the writer's path) and sent by one goroutine
// to the peer with the most free pool bytes. It holds nothing itself but
// the victims still queued.
type RemoteTier struct {
	n        *Node
	sf       singleflight.Group
	c        remoteCounters
	inflight atomic.Int64
	q        *demoteQueue
	// ctx ends the drainer's sends when the node shuts down.
	ctx    context.Context
	cancel context.CancelFunc
	closed atomic.Bool // Close (the engine's): ErrClosed, per the tier contract
	down   atomic.Bool // the node left the cluster: reads miss, demotes find no room

	hoMu    sync.Mutex
	ho      []handoff // oldest first
	hoBytes int64
}

var _ tiers.Tier = (*RemoteTier)(nil)

func newRemoteTier(n *Node) *RemoteTier {
	ctx, cancel := context.WithCancel(context.Background())
	return &RemoteTier{n: n, q: newDemoteQueue(n.cfg.DemoteQueueLen, n.cfg.DemoteQueueBytes), ctx: ctx, cancel: cancel}
}

// Name implements tiers.Tier.
func (r *RemoteTier) Name() string { return RemoteTierName }

// Kind implements tiers.Tier.
func (r *RemoteTier) Kind() tiers.Kind { return tiers.KindRemote }

// SetEvictFunc implements tiers.Tier: the remote tier never evicts.
func (r *RemoteTier) SetEvictFunc(tiers.EvictFunc) {}

// Close implements tiers.Tier; the node's Close ends the connections.
func (r *RemoteTier) Close() error {
	r.closed.Store(true)
	return nil
}

// candidates are the nodes to ask for id: the holders its directory
// replicas list (newest first; one lookup round trip, none when this node
// is a replica); never this node, never a node that is not a live member.
// Nobody listed means no fetch at all.
func (r *RemoteTier) candidates(id artifact.ID) []Member {
	n := r.n
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.FetchTimeout)
	defer cancel()
	var out []Member
	add := func(hs []Owner) {
		for _, o := range hs {
			if o.Node == n.cfg.NodeName || slices.ContainsFunc(out, func(m Member) bool { return m.Name == o.Node }) {
				continue
			}
			if m, ok := n.member(o.Node); ok && m.Meta.Epoch == o.Epoch {
				out = append(out, m)
			}
		}
	}
	add(n.dir.Holders(id.Hash, nil)) // what this node replicates, and demotion hints
	add(n.LookupHolders(ctx, id))
	return out
}

// fetched is one peer read shared by the callers of a singleflight.
type fetched struct {
	b    []byte
	meta artifact.Meta
}

// heapView is a View over a fetched payload. A payload that only one
// caller received goes back to the buffer pool on Release; a shared one is
// left to the GC.
type heapView struct {
	f        *fetched
	sole     bool
	released atomic.Bool
}

func (v *heapView) Bytes() []byte       { return v.f.b }
func (v *heapView) Meta() artifact.Meta { return v.f.meta }
func (v *heapView) Release() {
	if v.sole && v.released.CompareAndSwap(false, true) {
		putBuf(v.f.b)
	}
}

// View implements tiers.Tier: a copy fetched from a peer. The payload is
// also kept for a moment (handoff), because the engine answers a chain
// read's hit in a lower tier by promoting it, which reads this tier again.
func (r *RemoteTier) View(id artifact.ID) (tiers.View, error) {
	key := sfKey(id)
	if f, ok := r.takeHandoff(key); ok {
		r.c.hits.Add(1)
		r.c.handoffs.Add(1)
		return &heapView{f: f}, nil
	}
	if f, ok := r.q.read(key, id); ok && !r.closed.Load() {
		r.c.reads.Add(1)
		r.c.hits.Add(1)
		return &heapView{f: f, sole: true}, nil
	}
	f, shared, err := r.fetch(id)
	if err != nil {
		return nil, err
	}
	r.putHandoff(key, f)
	_ = shared // kept by the handoff: never pooled
	return &heapView{f: f}, nil
}

// Get implements tiers.Tier (no handoff: nothing promotes after a Get).
func (r *RemoteTier) Get(dst []byte, id artifact.ID) ([]byte, error) {
	f, shared, err := (*fetched)(nil), false, error(nil)
	if qf, ok := r.q.read(sfKey(id), id); ok && !r.closed.Load() {
		r.c.reads.Add(1)
		r.c.hits.Add(1)
		f = qf
	} else if f, shared, err = r.fetch(id); err != nil {
		return dst[:0], err
	}
	v := &heapView{f: f, sole: !shared}
	defer v.Release()
	b := v.Bytes()
	if len(dst) < len(b) {
		return dst[:0], fmt.Errorf("%w: %d < %d", tiers.ErrShortBuffer, len(dst), len(b))
	}
	return dst[:copy(dst, b)], nil
}

func (r *RemoteTier) fetch(id artifact.ID) (*fetched, bool, error) {
	if r.closed.Load() {
		return nil, false, tiers.ErrClosed
	}
	if r.down.Load() {
		return nil, false, tiers.ErrNotFound
	}
	if err := id.Validate(); err != nil {
		return nil, false, fmt.Errorf("%w: %w", tiers.ErrNotFound, err)
	}
	key := sfKey(id)
	// DoChan joins (or starts) the flight before returning, so reads counts
	// callers that are certain to share a fetch in progress.
	ch := r.sf.DoChan(key, func() (any, error) { return r.fetchOnce(id.Clone()) })
	r.c.reads.Add(1)
	res := <-ch
	if res.Shared {
		r.c.shared.Add(1)
	}
	if res.Err != nil {
		r.c.misses.Add(1)
		return nil, false, res.Err
	}
	r.c.hits.Add(1)
	return res.Val.(*fetched), res.Shared, nil
}

func sfKey(id artifact.ID) string { return string(append([]byte{byte(id.Namespace)}, id.Key...)) }

// Handoff bounds: a fetched payload waits this long (and within this many
// bytes in all) for the promotion that follows a chain read.
const (
	handoffTTL      = 2 * time.Second
	handoffMaxBytes = 64 << 20
)

type handoff struct {
	key string
	f   *fetched
	at  time.Time
}

func (r *RemoteTier) takeHandoff(key string) (*fetched, bool) {
	r.hoMu.Lock()
	defer r.hoMu.Unlock()
	now := time.Now()
	for i, h := range r.ho {
		if h.key == key {
			r.ho = append(r.ho[:i], r.ho[i+1:]...)
			r.hoBytes -= int64(len(h.f.b))
			return h.f, now.Sub(h.at) < handoffTTL
		}
	}
	return nil, false
}

// dropHandoff forgets a kept payload of key: a Put or Delete of the key
// makes it stale, and a handoff must never serve an older value.
func (r *RemoteTier) dropHandoff(key string) {
	r.hoMu.Lock()
	defer r.hoMu.Unlock()
	for i, h := range r.ho {
		if h.key == key {
			r.ho = append(r.ho[:i], r.ho[i+1:]...)
			r.hoBytes -= int64(len(h.f.b))
			return
		}
	}
}

func (r *RemoteTier) putHandoff(key string, f *fetched) {
	if len(f.b) > handoffMaxBytes {
		return
	}
	r.hoMu.Lock()
	defer r.hoMu.Unlock()
	now := time.Now()
	for len(r.ho) > 0 && (r.hoBytes+int64(len(f.b)) > handoffMaxBytes || now.Sub(r.ho[0].at) >= handoffTTL) {
		r.hoBytes -= int64(len(r.ho[0].f.b))
		r.ho = r.ho[1:]
	}
	r.ho = append(r.ho, handoff{key: key, f: f, at: now})
	r.hoBytes += int64(len(f.b))
}

// fetchOnce asks each candidate in turn; every failure is a miss.
func (r *RemoteTier) fetchOnce(id artifact.ID) (*fetched, error) {
	n := r.n
	r.inflight.Add(1)
	defer r.inflight.Add(-1)
	for _, m := range r.candidates(id) {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.FetchTimeout)
		r.c.fetches.Add(1)
		b, meta, _, err := n.peers.fetch(ctx, m.Meta.PeerAddr, id, getBuf)
		cancel()
		if err == nil {
			r.c.fetchBytes.Add(uint64(len(b)))
			return &fetched{b: b, meta: meta}, nil
		}
		if b != nil {
			putBuf(b)
		}
		if errors.Is(err, tiers.ErrCollision) {
			return nil, fmt.Errorf("%w: %w", tiers.ErrNotFound, err)
		}
		if errors.Is(err, tiers.ErrNotFound) {
			if n.dir.Holds(m.Name, id.Hash) {
				n.dir.Forget(m.Name, id.Hash)
				r.c.stale.Add(1)
			}
			continue
		}
		r.c.peerFailures.Add(1)
	}
	return nil, tiers.ErrNotFound
}

// Stat implements tiers.Tier by asking the candidates for metadata.
func (r *RemoteTier) Stat(id artifact.ID) (artifact.Meta, error) {
	if r.closed.Load() {
		return artifact.Meta{}, tiers.ErrClosed
	}
	if m, ok := r.q.stat(sfKey(id), id); ok {
		return m, nil
	}
	if r.down.Load() {
		return artifact.Meta{}, tiers.ErrNotFound
	}
	for _, m := range r.candidates(id) {
		ctx, cancel := context.WithTimeout(context.Background(), r.n.cfg.FetchTimeout)
		meta, err := r.n.peers.stat(ctx, m.Meta.PeerAddr, id)
		cancel()
		if err == nil {
			return meta, nil
		}
	}
	return artifact.Meta{}, tiers.ErrNotFound
}

// Contains implements tiers.Tier without the network, because the engine
// asks it on the write path (a link's eviction compares versions): a
// demotion still queued here, or a live peer listed as a holder in the
// entries this node replicates. Reads (View, Get, Stat) ask id's replicas;
// Contains may answer false for an artifact they would find.
func (r *RemoteTier) Contains(id artifact.ID) bool {
	if r.closed.Load() {
		return false
	}
	if _, ok := r.q.stat(sfKey(id), id); ok {
		return true
	}
	var buf [4]Owner
	for _, o := range r.n.dir.Holders(id.Hash, buf[:0]) {
		if o.Node == r.n.cfg.NodeName {
			continue
		}
		if _, live := r.n.member(o.Node); live {
			return true
		}
	}
	return false
}

// Put implements tiers.Tier: queue a demotion into the peer with the most
// free pool bytes (from gossiped metadata) and return; the writer never
// waits on the network (docs/cluster.md, "Remote demotion"). ErrNoSpace
// at once when no peer has room or the queue is full: the victim is then
// dropped (evicted), as when the peer refuses it later. The link above
// is write-through (RemoteLink), so every store reaches Put: one the
// local tiers still hold is acknowledged and not sent anywhere.
func (r *RemoteTier) Put(ctx context.Context, id artifact.ID, payload []byte, opts tiers.PutOptions) error {
	n := r.n
	if r.closed.Load() {
		return tiers.ErrClosed
	}
	if err := id.Validate(); err != nil {
		return err
	}
	key := sfKey(id)
	r.dropHandoff(key)
	if !opts.Demote && n.heldLocally(id) {
		// A write-through store passing by: the node keeps the artifact, so
		// there is nothing to spill, and a victim of the key still queued
		// is older. Only victims of the last local tier (opts.Demote:
		// still readable there until the demotion returns) are demoted.
		if r.q.cancel(key) {
			r.c.cancelled.Add(1)
		}
		r.c.passedBy.Add(1)
		return nil
	}
	if r.down.Load() {
		return fmt.Errorf("%w: this node left the cluster", tiers.ErrNoSpace)
	}
	size := int64(len(payload))
	if size > n.cfg.MaxArtifactBytes {
		return fmt.Errorf("%w: %d bytes", tiers.ErrTooLarge, size)
	}
	if _, ok := demoteTarget(id.Hash, size, n.peersSnapshot()); !ok {
		r.c.noTarget.Add(1)
		return fmt.Errorf("%w: no peer pool has %d bytes free", tiers.ErrNoSpace, size)
	}
	if !r.q.push(key, id, payload, opts.Meta) {
		r.c.queueFull.Add(1)
		return fmt.Errorf("%w: demote queue full (%d entries, %d bytes at most)", tiers.ErrNoSpace, n.cfg.DemoteQueueLen, n.cfg.DemoteQueueBytes)
	}
	r.c.queued.Add(1)
	return nil
}

// drain sends queued victims, oldest first, until the node shuts down.
func (r *RemoteTier) drain() {
	defer r.q.drop()
	for {
		it := r.q.next(r.ctx)
		if it == nil {
			return
		}
		r.send(it)
	}
}

// send demotes one victim into the peer with the most free pool bytes now
// and records that peer as the owner. A victim superseded while it was on
// the wire is deleted from the peer again (best effort).
func (r *RemoteTier) send(it *demoteItem) {
	n := r.n
	size := int64(len(it.buf))
	target, ok := demoteTarget(it.id.Hash, size, n.peersSnapshot())
	if !ok {
		r.c.noTarget.Add(1)
		r.q.finish(it)
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, n.cfg.DemoteTimeout)
	defer cancel()
	r.inflight.Add(1)
	_, err := n.peers.demote(ctx, target.Meta.PeerAddr, it.id, it.buf, it.meta)
	r.inflight.Add(-1)
	if err != nil {
		r.c.demoteFailures.Add(1)
		n.log.Debug("demote failed; victim dropped", "id", it.id.String(), "peer", target.Name, "err", err)
		r.q.finish(it)
		return
	}
	r.c.demotes.Add(1)
	r.c.demoteBytes.Add(uint64(size))
	n.claimFree(target.Name, size)
	kind := tiers.KindCXL
	if p := target.Meta.Pool; p >= 0 && p < len(target.Meta.Tiers) {
		kind = target.Meta.Tiers[p].Kind
	}
	id := it.id
	// The target reports its new copy to id's replicas itself (its pool
	// tier is observed like any local tier); until that lands, this node
	// keeps a hint in its own directory, which its reads consult first and
	// which it drops once it is not a replica of id (dropForeign).
	cancelled := r.q.commit(it, func() {
		n.dir.adopt(target.Name, target.Meta.Epoch)
		n.dir.Put(target.Name, target.Meta.Epoch, id.Hash, kind, n.tick())
	})
	if cancelled {
		r.c.cancelled.Add(1)
		dctx, dcancel := context.WithTimeout(r.ctx, n.cfg.FetchTimeout)
		defer dcancel()
		attrs, err := n.peers.simple(dctx, target.Meta.PeerAddr, opPeerDelete, []artifact.ID{id})
		if err != nil {
			n.log.Debug("undoing a superseded demote", "id", id.String(), "peer", target.Name, "err", err)
		} else {
			// The target's report of the copy may still be on its way here:
			// a tombstone at its delete's version keeps it from listing the
			// target (a delete waiting on this undo reads the directory
			// next).
			n.dir.adopt(target.Name, target.Meta.Epoch)
			n.forgetAt(target.Name, target.Meta.Epoch, id.Hash, attrs)
		}
		r.q.settle(it)
	}
}

// Delete implements tiers.Tier: the delete is forwarded to every holder the
// directory lists (not when the delete came from a peer). It reports
// whether any holder had it. While a local tier holds id, the delete is a
// store's invalidation of the copies below it and is not forwarded: copies
// of one id on several nodes are holders of the same artifact (a promotion,
// a demotion, the same KV block stored twice), each deciding its own copy
// by its own versions. The engine's Delete empties the local tiers first
// (the remote tier is the last), so it reaches every holder. A peer that
// is not a live member holds nothing this node would read (reads ask live
// members only). A live holder that cannot be reached is an error. The
// peers' versions are their own, so opts.Below cannot be compared: a
// holder's copy is deleted whatever its version.
func (r *RemoteTier) Delete(ctx context.Context, id artifact.ID, opts tiers.DeleteOptions) (bool, error) {
	n := r.n
	r.c.deletes.Add(1)
	if r.closed.Load() {
		return false, tiers.ErrClosed
	}
	r.dropHandoff(sfKey(id))
	queued, onWire := r.q.cancelWait(sfKey(id))
	if queued {
		r.c.cancelled.Add(1)
	}
	if onWire != nil {
		// A superseded copy of id is on its way to a peer: let the drainer
		// land and undo it first, or the peer would hold it after this
		// delete returned (and reads would find the deleted bytes there).
		select {
		case <-onWire:
		case <-ctx.Done():
			return queued, fmt.Errorf("remote: delete %s: waiting for a demotion on the wire: %w", id, ctx.Err())
		}
	}
	if r.down.Load() {
		return queued, nil
	}
	if _, fromPeer := n.peerDeletes.Load(id.Hash); fromPeer || n.heldLocally(id) {
		return queued, nil
	}
	found := queued
	var errs []error
	for _, m := range r.candidates(id) {
		o := Owner{Node: m.Name}
		r.c.deleteFwd.Add(1)
		dctx, cancel := context.WithTimeout(ctx, n.cfg.FetchTimeout)
		attrs, err := n.peers.simple(dctx, m.Meta.PeerAddr, opPeerDelete, []artifact.ID{id})
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("remote: delete %s at %s: %w", id, o.Node, err))
			continue
		}
		n.forgetAt(o.Node, m.Meta.Epoch, id.Hash, attrs)
		found = found || attrs["found"] == "true"
	}
	return found, errors.Join(errs...)
}

// forgetAt drops owner's record of hash after owner deleted its copy:
// a tombstone at the version owner's reply carries (attrs "ver", a tick of
// owner's clock taken after the delete), so that owner's earlier reports
// of the copy, still on their way, cannot list it again; without one, the
// record is just dropped.
func (n *Node) forgetAt(owner string, epoch, hash uint64, attrs map[string]string) {
	if ver, err := strconv.ParseUint(attrs["ver"], 10, 64); err == nil && ver > 0 {
		n.dir.Delete(owner, epoch, hash, ver)
		return
	}
	n.dir.Forget(owner, hash)
}

// Version implements tiers.Tier: a peer's versions are its own, so a hit
// reports 0 (unknown).
func (r *RemoteTier) Version(id artifact.ID) (uint64, bool) {
	return 0, r.Contains(id)
}

// Pin implements tiers.Tier: remote artifacts cannot be pinned from here.
func (r *RemoteTier) Pin(id artifact.ID) error {
	return fmt.Errorf("%w: pin on the remote tier", tiers.ErrNotFound)
}

// Unpin implements tiers.Tier.
func (r *RemoteTier) Unpin(id artifact.ID) error {
	return fmt.Errorf("%w: unpin on the remote tier", tiers.ErrNotFound)
}

// Stats implements tiers.Tier: capacity and use are the peers' pools as
// gossiped.
func (r *RemoteTier) Stats(s *tiers.Stats) {
	*s = tiers.Stats{Name: RemoteTierName, Kind: tiers.KindRemote}
	for _, m := range r.n.peersSnapshot() {
		if p := m.Meta.Pool; p >= 0 && p < len(m.Meta.Tiers) {
			t := m.Meta.Tiers[p]
			s.CapacityBytes += t.CapacityBytes
			s.UsedBytes += t.CapacityBytes - t.FreeBytes
		}
	}
	s.Hits = r.c.hits.Load()
	s.Misses = r.c.misses.Load()
	s.Puts = r.c.demotes.Load()
	s.Deletes = r.c.deleteFwd.Load()
}

func (r *RemoteTier) stats() RemoteStats {
	c := &r.c
	ql, qb := r.q.len()
	return RemoteStats{
		QueueLen: ql, QueueBytes: qb, DemotesSettled: r.q.settled.Load(),
		Reads: c.reads.Load(), Hits: c.hits.Load(), Misses: c.misses.Load(), Fetches: c.fetches.Load(), Shared: c.shared.Load(),
		FetchBytes: c.fetchBytes.Load(), PeerFailures: c.peerFailures.Load(),
		Demotes: c.demotes.Load(), DemoteBytes: c.demoteBytes.Load(), DemoteFailures: c.demoteFailures.Load(),
		NoTarget: c.noTarget.Load(), StaleEntries: c.stale.Load(),
		Deletes: c.deletes.Load(), DeleteForwds: c.deleteFwd.Load(), PassedBy: c.passedBy.Load(), Handoffs: c.handoffs.Load(),
		DemotesQueued: c.queued.Load(), QueueFull: c.queueFull.Load(), DemotesCancelled: c.cancelled.Load(),
	}
}

// Prefetch asks the node that holds each id to warm it into its top tier
// (best effort; it reports how many peers accepted).
func (r *RemoteTier) Prefetch(ctx context.Context, ids []artifact.ID) int {
	ok := 0
	for _, id := range ids {
		for _, m := range r.candidates(id) {
			if _, err := r.n.peers.simple(ctx, m.Meta.PeerAddr, opPeerPrefetch, []artifact.ID{id}); err == nil {
				ok++
				break
			}
		}
	}
	return ok
}

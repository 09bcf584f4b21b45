package cluster

// The partitioned directory's peer side: which nodes are an artifact's
// directory replicas (ring), how a holder's records reach them (dirSender:
// batched, one request in flight per replica, asynchronous to the writer),
// batched lookups, and the server's answers.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/messages/frame"
)

// updateRing rebuilds the ring from the members and wakes the directory
// loop (handoff). Safe from memberlist callbacks: it takes memMu briefly
// and never blocks.
func (n *Node) updateRing() {
	names := n.memberNames()
	n.ringMu.Lock()
	defer n.ringMu.Unlock()
	old := n.ring.Load()
	r := newRing(names, old.gen+1)
	if slices.Equal(r.names, old.names) {
		return
	}
	n.rings.add(r)
	n.ring.Store(r)
	n.ringChangedAt.Store(time.Now().UnixNano())
	select {
	case n.ringCh <- struct{}{}:
	default:
	}
}

// replicasOf lists hash's directory replicas under the current ring.
func (n *Node) replicasOf(dst []string, hash uint64) []string {
	return n.ring.Load().replicas(dst, hash, n.cfg.DirectoryReplicas)
}

// publish sends one of this node's records to replicas: the local
// directory when this node is one, else the replica's queue.
func (n *Node) publish(rec Record, replicas []string) {
	for _, rep := range replicas {
		if rep == n.cfg.NodeName {
			n.applyOwn(rec)
			continue
		}
		n.snd.enqueue(rep, queued{rec: rec, cls: trafficStore})
	}
}

func (n *Node) applyOwn(rec Record) {
	if rec.Del {
		n.dir.Delete(n.cfg.NodeName, n.cfg.Epoch, rec.Hash, rec.Ver)
	} else {
		n.dir.Put(n.cfg.NodeName, n.cfg.Epoch, rec.Hash, rec.Kind, rec.Ver)
	}
}

// maxQueuedPerReplica bounds the records waiting for one replica; beyond
// it the oldest half is dropped (anti-entropy repairs what they carried).
const maxQueuedPerReplica = 1 << 17

// maxRecordsPerUpdate bounds one OP_PEER_DIR_UPDATE (~14 bytes a record).
const maxRecordsPerUpdate = 8192

// maxUpdateSends bounds the OP_PEER_DIR_UPDATE requests a node has in
// flight at once (one per replica at most): records for the other
// replicas wait and leave together. Without the bound, a burst of stores
// on a 64-node fleet in one process became one request (and goroutine,
// and often a dial) per record and replica: ~3 records a request.
const maxUpdateSends = 8

// dirRequestTimeout bounds a directory update or digest exchange: longer
// than a fetch's, because a batch that times out is lost until the next
// digest finds it, and an overloaded replica is slow, not gone.
const dirRequestTimeout = 10 * time.Second

// queued is a record, an encoded delta (a bucket repair) or a digest
// waiting for a replica; they leave in the order queued. cls is what
// caused it (its share of the request's bytes is counted there).
type queued struct {
	rec  Record
	blob []byte
	dig  *queuedDigest
	cls  trafficClass
}

// queuedDigest is an anti-entropy digest waiting for replica j of ring:
// this node's records the replica should hold, as of asOf.
type queuedDigest struct {
	ring *ring
	j    int
	asOf uint64
	sums *[digestBuckets]uint64
}

// dirSender batches this node's records per replica: one update in flight
// per replica, carrying everything queued meanwhile.
type dirSender struct {
	n    *Node
	mu   sync.Mutex
	q    map[string][]queued
	busy map[string]bool
	// digestQueued: a digest waits in the replica's queue (a hint: the
	// queue's overflow may have dropped it).
	digestQueued map[string]bool
	wake         chan struct{}

	dropped, failed, sent, records atomic.Uint64
	// digestsReplaced: digests superseded by the next pass's before they
	// left; digestsStale: digests dropped because the ring changed first.
	digestsReplaced, digestsStale atomic.Uint64
	inflight                      atomic.Int64 // records and repairs being sent
	testDrop                      atomic.Bool  // test seam: record updates are lost
}

func newDirSender(n *Node) *dirSender {
	return &dirSender{n: n, q: map[string][]queued{}, busy: map[string]bool{}, digestQueued: map[string]bool{}, wake: make(chan struct{}, 1)}
}

func (s *dirSender) enqueue(dest string, it queued) {
	s.mu.Lock()
	q := s.q[dest]
	if len(q) >= maxQueuedPerReplica {
		s.dropped.Add(uint64(len(q) / 2))
		q = q[:copy(q, q[len(q)/2:])]
	}
	s.q[dest] = append(q, it)
	s.mu.Unlock()
	s.signal()
}

// enqueueDigest queues d for dest behind what is queued for it already,
// taking out a digest of an earlier pass still waiting there.
func (s *dirSender) enqueueDigest(dest string, d *queuedDigest) {
	s.mu.Lock()
	if s.digestQueued[dest] {
		q := s.q[dest]
		for i := len(q) - 1; i >= 0; i-- {
			if q[i].dig != nil {
				s.q[dest] = append(q[:i], q[i+1:]...)
				s.digestsReplaced.Add(1)
				break
			}
		}
	}
	s.digestQueued[dest] = true
	s.mu.Unlock()
	s.enqueue(dest, queued{dig: d, cls: trafficDigest})
}

func (s *dirSender) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pending is the number of records and repairs waiting (digests, which
// every pass queues again, are not counted: nothing is pending once only
// they are).
func (s *dirSender) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := 0
	for _, q := range s.q {
		k += updates(q)
	}
	return k + int(s.inflight.Load())
}

// updates counts the records and repairs in q.
func updates(q []queued) int {
	k := 0
	for i := range q {
		if q[i].dig == nil {
			k++
		}
	}
	return k
}

// loop starts one send per replica that has something queued and nothing
// in flight.
func (s *dirSender) loop() {
	n := s.n
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case <-s.wake:
		}
		s.mu.Lock()
		for dest, q := range s.q {
			if len(s.busy) >= maxUpdateSends {
				break // a finishing send signals again
			}
			if s.busy[dest] || len(q) == 0 {
				continue
			}
			s.busy[dest] = true
			delete(s.q, dest)
			delete(s.digestQueued, dest)
			s.inflight.Add(int64(updates(q)))
			n.syncWG.Add(1)
			go s.send(dest, q)
		}
		s.mu.Unlock()
	}
}

func (s *dirSender) send(dest string, q []queued) {
	n := s.n
	defer n.syncWG.Done()
	defer func() {
		s.mu.Lock()
		s.inflight.Add(-int64(updates(q)))
		delete(s.busy, dest)
		more := len(s.q) > 0
		s.mu.Unlock()
		if more {
			s.signal()
		}
	}()
	m, ok := n.member(dest)
	if !ok || m.Meta.PeerAddr == "" {
		s.dropped.Add(uint64(len(q)))
		return
	}
	ctx, cancel := n.dirRequestContext()
	defer cancel()
	var recs []Record
	var per [numTraffic]uint64 // records of each class in recs
	var b []byte
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		dl := Delta{Owner: n.cfg.NodeName, Epoch: n.cfg.Epoch, Records: recs}
		b = appendDelta(b[:0], &dl)
		bytes, err := s.call(ctx, m.Meta.PeerAddr, b)
		if err == nil {
			s.records.Add(uint64(len(recs)))
		}
		// The request counts for the class of most of its records; its
		// bytes are shared among its records' classes.
		top := 0
		for c := range per {
			if per[c] > per[top] {
				top = c
			}
		}
		rest := bytes
		for c, k := range per {
			if k > 0 && c != top {
				share := bytes * k / uint64(len(recs))
				n.traffic.add(trafficClass(c), share, 0, k)
				rest -= share
			}
		}
		n.traffic.add(trafficClass(top), rest, 1, per[top])
		recs, per = recs[:0], [numTraffic]uint64{}
		return err
	}
	var err error
	for i := 0; i < len(q) && err == nil; i++ {
		it := q[i]
		if it.dig != nil {
			if err = flush(); err == nil {
				err = s.digest(ctx, m.Meta.PeerAddr, it.dig)
			}
			continue
		}
		if it.blob != nil {
			if err = flush(); err == nil {
				var bytes uint64
				bytes, err = s.call(ctx, m.Meta.PeerAddr, it.blob)
				n.traffic.add(it.cls, bytes, 1, 0)
			}
			continue
		}
		if s.testDrop.Load() {
			s.dropped.Add(1)
			continue
		}
		recs = append(recs, it.rec)
		per[it.cls]++
		if len(recs) >= maxRecordsPerUpdate {
			err = flush()
		}
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		// The batch is lost, never retried out of order: the replica's next
		// digest exchange with this node finds what it lacks.
		s.failed.Add(1)
		n.log.Debug("directory update", "replica", dest, "err", err)
	}
}

// digest sends d (OP_PEER_DIR_DIGEST) and the bucket snapshots of the
// buckets the replica answers differ, in this order on the replica's one
// request in flight: whatever this node queued for it before d has
// arrived, so the buckets differ only where something was lost. A digest
// of a ring that is no longer current is dropped (its replica sets are
// the old ring's; the next pass sends one of the new ring).
func (s *dirSender) digest(ctx context.Context, addr string, d *queuedDigest) error {
	n := s.n
	if n.ring.Load() != d.ring {
		s.digestsStale.Add(1)
		return nil
	}
	var diff []int
	req := &messages.FrameHeader{Op: messages.Op_OP_PEER_DIR_DIGEST}
	bytes, err := n.peers.callBytes(ctx, addr, req, appendDigest(nil, n.cfg.NodeName, n.cfg.Epoch, d.asOf, d.sums), func(rep *frame.Reply) error {
		b, err := rep.Bytes()
		if err != nil {
			return err
		}
		diff, err = decodeBuckets(b)
		return err
	})
	n.traffic.add(trafficDigest, bytes, 1, 0)
	if err != nil || len(diff) == 0 {
		return err
	}
	for _, blob := range n.repairDeltas(d.ring, d.j, d.asOf, diff) {
		bytes, err := s.call(ctx, addr, blob)
		n.traffic.add(trafficRepair, bytes, 1, 0)
		if err != nil {
			return err
		}
		n.dstats.repairs.Add(1)
	}
	return nil
}

// call sends one OP_PEER_DIR_UPDATE; it returns its frames' bytes.
func (s *dirSender) call(ctx context.Context, addr string, payload []byte) (uint64, error) {
	s.sent.Add(1)
	return s.n.peers.callBytes(ctx, addr, &messages.FrameHeader{Op: messages.Op_OP_PEER_DIR_UPDATE}, payload, nil)
}

// ErrLookup: no directory replica of some artifact answered.
var ErrLookup = errors.New("cluster: directory replicas unreachable")

// Lookup returns the holders of each id (out[i] for ids[i]), asking each
// id's directory replicas: one request per replica involved, all in
// parallel, the next replica only for the ids whose replica failed. An id
// nobody holds has no holders, and a holder this node does not know as a
// live member at the listed epoch is not listed (liveHolders). Results
// are not cached: a holder's record is visible to the next lookup once
// its update reached the replica.
// ErrLookup (with the other ids answered) when every replica of an id
// failed.
func (n *Node) Lookup(ctx context.Context, ids []artifact.ID) ([][]Owner, error) {
	hashes := make([]uint64, len(ids))
	for i, id := range ids {
		hashes[i] = id.Hash
	}
	return n.lookupHashes(ctx, hashes)
}

// LookupHolders is Lookup of one id; a failed lookup lists nobody.
func (n *Node) LookupHolders(ctx context.Context, id artifact.ID) []Owner {
	out, _ := n.lookupHashes(ctx, []uint64{id.Hash})
	return out[0]
}

func (n *Node) lookupHashes(ctx context.Context, hashes []uint64) ([][]Owner, error) {
	out := make([][]Owner, len(hashes))
	reps := make([][]string, len(hashes))
	next := make([]int, len(hashes)) // the replica to ask next
	todo := make([]int, len(hashes))
	for i, h := range hashes {
		reps[i] = n.replicasOf(nil, h)
		todo[i] = i
	}
	n.dstats.lookups.Add(1)
	unsettled := time.Since(time.Unix(0, n.ringChangedAt.Load())) < 3*n.cfg.AntiEntropyInterval
	var failed []error
	for len(todo) > 0 {
		groups := map[string][]int{}
		var lost []int
		for _, i := range todo {
			if next[i] >= len(reps[i]) {
				lost = append(lost, i)
				continue
			}
			groups[reps[i][next[i]]] = append(groups[reps[i][next[i]]], i)
		}
		if len(lost) > 0 {
			failed = append(failed, fmt.Errorf("%w: %d ids", ErrLookup, len(lost)))
		}
		todo = todo[:0]
		var mu sync.Mutex
		var wg sync.WaitGroup
		for rep, idx := range groups {
			if rep == n.cfg.NodeName {
				// The goroutines started for earlier groups append to todo
				// as they finish: this group's appends take the same lock.
				mu.Lock()
				for _, i := range idx {
					out[i] = n.liveHolders(n.dir.Holders(hashes[i], nil))
					if unsettled && len(out[i]) == 0 && next[i]+1 < len(reps[i]) {
						next[i]++
						todo = append(todo, i)
					}
				}
				mu.Unlock()
				continue
			}
			wg.Add(1)
			go func(rep string, idx []int) {
				defer wg.Done()
				err := n.lookupAt(ctx, rep, hashes, idx, out)
				if err == nil && unsettled {
					// Right after a membership change the first replica may
					// not have its handoff yet: an empty answer asks the next.
					mu.Lock()
					for _, i := range idx {
						if len(out[i]) == 0 && next[i]+1 < len(reps[i]) {
							next[i]++
							todo = append(todo, i)
						}
					}
					mu.Unlock()
				}
				if err != nil {
					mu.Lock()
					for _, i := range idx {
						next[i]++
						todo = append(todo, i)
					}
					mu.Unlock()
				}
			}(rep, idx)
		}
		wg.Wait()
		if ctx.Err() != nil && len(todo) > 0 {
			failed = append(failed, fmt.Errorf("%w: %w", ErrLookup, ctx.Err()))
			break
		}
	}
	return out, errors.Join(failed...)
}

// lookupAt asks replica rep for the holders of hashes[idx...].
func (n *Node) lookupAt(ctx context.Context, rep string, hashes []uint64, idx []int, out [][]Owner) error {
	m, ok := n.member(rep)
	if !ok || m.Meta.PeerAddr == "" {
		return ErrLookup
	}
	ask := make([]uint64, len(idx))
	for j, i := range idx {
		ask[j] = hashes[i]
	}
	got := make([][]Owner, len(idx))
	req := &messages.FrameHeader{Op: messages.Op_OP_PEER_DIR_LOOKUP}
	err := n.peers.call(ctx, m.Meta.PeerAddr, req, appendLookupReq(nil, ask), func(rep *frame.Reply) error {
		b, err := rep.Bytes()
		if err != nil {
			return err
		}
		return decodeLookupReply(b, got)
	})
	if err != nil {
		return err
	}
	for j, i := range idx {
		out[i] = n.liveHolders(got[j])
	}
	return nil
}

// liveHolders keeps the holders this node knows as live members at the
// epoch listed (itself at its own epoch), in place. A replica lists a
// crashed node until its own memberlist marks it dead, which can be
// later than this node does: each member's failure detector decides on
// its own (memberlist ignores a dead message about an older incarnation
// than the one it has, and a metadata update is a new incarnation), so
// a replica can keep listing the node for a suspicion timeout or more
// after this node dropped it. With this filter a lookup stops listing it
// as soon as this node's membership has, as reads never went to it
// (RemoteTier.candidates). A node restarted with a new epoch is listed
// once this node has its new metadata.
func (n *Node) liveHolders(hs []Owner) []Owner {
	if len(hs) == 0 {
		return hs
	}
	k := 0
	n.memMu.RLock()
	for _, o := range hs {
		live := o.Node == n.cfg.NodeName && o.Epoch == n.cfg.Epoch
		if m, ok := n.members[o.Node]; ok && m.Meta.Epoch == o.Epoch {
			live = true
		}
		if live {
			hs[k] = o
			k++
		}
	}
	n.memMu.RUnlock()
	return hs[:k]
}

// dirCounters count the directory's peer traffic.
type dirCounters struct {
	lookups, lookupsServed, updatesServed, digests, repairs, handoffs atomic.Uint64
}

// readPayload reads a request's payload (bounded by the frame limits).
func (s *peerServer) readPayload(cs *connState) ([]byte, error) {
	size := cs.r.Pending()
	if uint64(cap(cs.buf)) < size {
		cs.buf = make([]byte, size)
	}
	b := cs.buf[:size]
	return b, cs.r.ReadPayload(b)
}

// onDirUpdate applies a holder's records (or a bucket repair).
func (s *peerServer) onDirUpdate(cs *connState, hdr *messages.FrameHeader) error {
	n := s.n
	b, err := s.readPayload(cs)
	if err != nil {
		return err
	}
	var dl Delta
	if err := decodeDelta(b, &dl); err != nil {
		n.dstats.updatesServed.Add(1)
		n.peerStats.badRequests.Add(1)
		return s.fail(cs, hdr.RequestId, fmt.Errorf("%w: %w", ErrPeer, err))
	}
	n.dstats.updatesServed.Add(1)
	if dl.Owner == cs.peer {
		// The holder speaks for itself: known even if this node has not
		// heard of it from memberlist yet (a join racing its first stores).
		n.dir.adopt(dl.Owner, dl.Epoch)
	}
	n.dir.apply(&dl)
	return s.reply(cs, &messages.FrameHeader{RequestId: hdr.RequestId})
}

func (s *peerServer) onDirLookup(cs *connState, hdr *messages.FrameHeader) error {
	n := s.n
	b, err := s.readPayload(cs)
	if err != nil {
		return err
	}
	hashes, err := decodeLookupReq(b, nil)
	if err != nil {
		n.peerStats.badRequests.Add(1)
		return s.fail(cs, hdr.RequestId, fmt.Errorf("%w: %w", ErrPeer, err))
	}
	n.dstats.lookupsServed.Add(1)
	out := make([]byte, 0, len(hashes)*16)
	var hs []Owner
	for _, h := range hashes {
		hs = n.dir.Holders(h, hs[:0])
		out = appendHolders(out, hs)
	}
	return s.reply(cs, &messages.FrameHeader{RequestId: hdr.RequestId}, out)
}

func (s *peerServer) onDirDigest(cs *connState, hdr *messages.FrameHeader) error {
	n := s.n
	b, err := s.readPayload(cs)
	if err != nil {
		return err
	}
	var dg [digestBuckets]uint64
	owner, epoch, asOf, err := decodeDigest(b, &dg)
	if err != nil {
		n.peerStats.badRequests.Add(1)
		return s.fail(cs, hdr.RequestId, fmt.Errorf("%w: %w", ErrPeer, err))
	}
	n.dstats.digests.Add(1)
	if owner == cs.peer {
		n.dir.adopt(owner, epoch)
	}
	diff := n.dir.digest(owner, epoch, &dg, asOf)
	return s.reply(cs, &messages.FrameHeader{RequestId: hdr.RequestId}, appendBuckets(nil, diff))
}

// dirRequestContext bounds one directory request (update or digest) by
// dirRequestTimeout and ends it when the node stops.
func (n *Node) dirRequestContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), dirRequestTimeout)
	go func() {
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

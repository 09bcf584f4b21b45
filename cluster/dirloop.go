package cluster

// The holder's side of keeping the directory right: handoff when the
// replicas of its records change, and the periodic digest exchange that
// finds what any replica lost. A replica also drops what it no longer
// replicates.

import (
	"context"
	"time"

	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/messages/frame"
)

// dirLoop runs handoff on ring changes and anti-entropy every
// AntiEntropyInterval.
func (n *Node) dirLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.AntiEntropyInterval)
	defer t.Stop()
	handed := n.ring.Load() // the ring the replicas have our records for
	stableSince := time.Now()
	for {
		select {
		case <-n.stop:
			return
		case <-n.ringCh:
			cur := n.ring.Load()
			if n.handoff(handed, cur) {
				handed = cur
			}
			stableSince = time.Now()
			continue
		case <-t.C:
		}
		if cur := n.ring.Load(); cur != handed {
			if n.handoff(handed, cur) {
				handed = cur
			}
			stableSince = time.Now()
			continue
		}
		n.antiEntropy(handed)
		if time.Since(stableSince) >= n.cfg.AntiEntropyInterval {
			n.dropForeign(handed)
		}
	}
}

// handoff sends every record of this node whose replica set gained a
// member from old to cur to the new replicas, at most HandoffRate records a
// second. It stops early (false) when the ring changes again or the node
// stops; the next pass starts over from old, which is safe because records
// are idempotent.
func (n *Node) handoff(old, cur *ring) bool {
	var ob, nb [8]string
	budget := n.cfg.HandoffRate / 10
	start := time.Now()
	sent := 0
	complete := true
	n.holdings.each(func(recs []Record) {
		if !complete {
			return
		}
		for _, r := range recs {
			was := old.replicas(ob[:0], r.Hash, n.cfg.DirectoryReplicas)
			now := cur.replicas(nb[:0], r.Hash, n.cfg.DirectoryReplicas)
			for _, rep := range now {
				if contains(was, rep) && old.has(rep) {
					continue
				}
				if rep == n.cfg.NodeName {
					n.applyOwn(r)
				} else {
					n.snd.enqueue(rep, queued{rec: r})
				}
				sent++
				n.dstats.handoffs.Add(1)
			}
			if budget > 0 && sent >= budget {
				// Bounded rate: wait for the next tenth of a second.
				sent = 0
				wait := time.Until(start.Add(100 * time.Millisecond))
				start = start.Add(100 * time.Millisecond)
				if wait > 0 {
					tm := time.NewTimer(wait)
					select {
					case <-n.stop:
						complete = false
					case <-tm.C:
					}
					tm.Stop()
				}
				if n.ring.Load() != cur {
					complete = false
				}
				if !complete {
					return
				}
			}
		}
	})
	return complete && n.ring.Load() == cur
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// antiEntropy sends each replica the digest of this node's records it
// should hold and repairs the buckets that differ with bucket snapshots,
// queued behind the records already on their way.
func (n *Node) antiEntropy(r *ring) {
	asOf := n.tick()
	digests := map[string]*[digestBuckets]uint64{}
	var buf [8]string
	n.holdings.each(func(recs []Record) {
		for _, rec := range recs {
			for _, rep := range r.replicas(buf[:0], rec.Hash, n.cfg.DirectoryReplicas) {
				if rep == n.cfg.NodeName {
					continue
				}
				dg := digests[rep]
				if dg == nil {
					dg = new([digestBuckets]uint64)
					digests[rep] = dg
				}
				dg[bucketOf(rec.Hash)] ^= recDigest(rec)
			}
		}
	})
	// Replicas that should hold nothing of ours get an empty digest, so
	// that records they kept by mistake go too.
	for _, name := range r.names {
		if name != n.cfg.NodeName && digests[name] == nil {
			digests[name] = new([digestBuckets]uint64)
		}
	}
	for rep, dg := range digests {
		select {
		case <-n.stop:
			return
		default:
		}
		diff, err := n.sendDigest(rep, asOf, dg)
		if err != nil || len(diff) == 0 {
			continue
		}
		n.repair(r, rep, asOf, diff)
	}
}

func (n *Node) sendDigest(rep string, asOf uint64, dg *[digestBuckets]uint64) ([]int, error) {
	m, ok := n.member(rep)
	if !ok || m.Meta.PeerAddr == "" {
		return nil, ErrLookup
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.FetchTimeout)
	defer cancel()
	var diff []int
	req := &messages.FrameHeader{Op: messages.Op_OP_PEER_DIR_DIGEST}
	err := n.peers.call(ctx, m.Meta.PeerAddr, req, appendDigest(nil, n.cfg.NodeName, n.cfg.Epoch, asOf, dg), func(rep *frame.Reply) error {
		b, err := rep.Bytes()
		if err != nil {
			return err
		}
		diff, err = decodeBuckets(b)
		return err
	})
	return diff, err
}

// repair queues for rep an authoritative snapshot of each bucket in diff:
// this node's records there that rep replicates, as of asOf.
func (n *Node) repair(r *ring, rep string, asOf uint64, diff []int) {
	want := map[int][]Record{}
	for _, b := range diff {
		want[b] = nil
	}
	var buf [8]string
	n.holdings.each(func(recs []Record) {
		for _, rec := range recs {
			b := bucketOf(rec.Hash)
			if _, ok := want[b]; !ok || rec.Ver > asOf {
				continue
			}
			if contains(r.replicas(buf[:0], rec.Hash, n.cfg.DirectoryReplicas), rep) {
				want[b] = append(want[b], rec)
			}
		}
	})
	for b, recs := range want {
		dl := Delta{Owner: n.cfg.NodeName, Epoch: n.cfg.Epoch, Snapshot: true, AsOf: asOf, Bucketed: true, Bucket: b, Records: recs}
		n.snd.enqueue(rep, queued{blob: appendDelta(nil, &dl)})
		n.dstats.repairs.Add(1)
	}
}

// dropForeign removes the entries this node is no longer a replica of
// (after a membership change, once their holders had time to hand them
// to the new replicas).
func (n *Node) dropForeign(r *ring) {
	var buf [8]string
	n.dir.dropIf(func(hash uint64) bool {
		return !contains(r.replicas(buf[:0], hash, n.cfg.DirectoryReplicas), n.cfg.NodeName)
	})
}

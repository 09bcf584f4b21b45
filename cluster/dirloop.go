package cluster

// The holder's side of keeping the directory right: moving its records'
// replica sets to a new ring (handoff), and the periodic digest exchange
// that finds what any replica lost. A replica also drops what it no longer
// replicates.

import (
	"time"

	"github.com/stratacache/stratacache/placement"
)

// dirLoop moves replica sets on ring changes, drops foreign entries once
// a change has settled, and runs anti-entropy every AntiEntropyInterval.
//
// Digests wait until the ring has been stable for two intervals: in the
// first, the holders hand their records to the new replicas and the old
// replicas drop what they no longer replicate; a digest sent earlier would
// find those moves as differences and repair them a second time.
func (n *Node) dirLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.AntiEntropyInterval)
	defer t.Stop()
	refreshed := n.ring.Load() // every record's replica set is ranked on it
	swept := refreshed         // the ring dropForeign last ran for
	changedAt := time.Now()
	for {
		select {
		case <-n.stop:
			return
		case <-n.ringCh:
			if cur := n.ring.Load(); cur != refreshed {
				if n.refreshReplicas(cur) {
					refreshed = cur
				}
				changedAt = time.Now()
			}
			continue
		case <-t.C:
		}
		if cur := n.ring.Load(); cur != refreshed {
			if n.refreshReplicas(cur) {
				refreshed = cur
			}
			changedAt = time.Now()
			continue
		}
		stable := time.Since(changedAt)
		if swept != refreshed && stable >= n.cfg.AntiEntropyInterval {
			n.dropForeign(swept, refreshed)
			swept = refreshed
		}
		if stable >= 2*n.cfg.AntiEntropyInterval {
			n.antiEntropy(refreshed)
		}
	}
}

// refreshReplicas ranks every record's replica set on cur, carrying it
// from the ring it was ranked on (ringMove: a few scores per record, not
// one per member), and sends the record to the replicas it gained, at most
// HandoffRate records a second. It stops early (false) when the ring
// changes again or the node stops; the records done so far are ranked on
// cur, the others on their older rings, and the next pass goes on from
// there. A record whose ring is no longer kept (ringLogLen changes ago) is
// ranked from scratch and sent to all its replicas (records are
// idempotent).
func (n *Node) refreshReplicas(cur *ring) bool {
	k := n.cfg.DirectoryReplicas
	budget := n.cfg.HandoffRate / 10
	start := time.Now()
	sent := 0
	moves := map[uint32]*ringMove{}
	type send struct {
		to  string
		rec Record
	}
	var out []send
	var buf [maxReplicas]uint16
	for i := range n.holdings.shards {
		sh := &n.holdings.shards[i]
		out = out[:0]
		sh.mu.Lock()
		for hash, rec := range sh.m {
			if rec.rankedOn(cur) {
				continue
			}
			old := n.rings.get(rec.gen)
			var now []uint16
			if old != nil {
				mv := moves[rec.gen]
				if mv == nil {
					mv = newRingMove(old, cur)
					moves[rec.gen] = mv
				}
				now = mv.next(buf[:0], hash, k, rec.replicaIdx())
			} else {
				now = cur.top(buf[:0], hash, k)
			}
			for _, j := range now {
				name := cur.names[j]
				if old != nil && rec.sentTo(old, name) {
					continue
				}
				out = append(out, send{name, rec.record(hash)})
			}
			rec.setReplicas(cur.gen, now)
			sh.m[hash] = rec
		}
		sh.mu.Unlock()
		for _, s := range out {
			if s.to == n.cfg.NodeName {
				n.applyOwn(s.rec)
			} else {
				n.snd.enqueue(s.to, queued{rec: s.rec, cls: trafficHandoff})
			}
			n.dstats.handoffs.Add(1)
		}
		sent += len(out)
		if budget > 0 && sent >= budget {
			// Bounded rate: the records of a tenth of a second sent, wait
			// for the next tenth.
			wait := time.Until(start.Add(time.Duration(sent/budget) * 100 * time.Millisecond))
			if wait > 0 {
				tm := time.NewTimer(wait)
				select {
				case <-n.stop:
					tm.Stop()
					return false
				case <-tm.C:
				}
			}
		}
		select {
		case <-n.stop:
			return false
		default:
		}
		if n.ring.Load() != cur {
			return false
		}
	}
	return true
}

// sentTo reports whether name is in r's replica set as ranked on ring old.
func (r *ownRec) sentTo(old *ring, name string) bool {
	for _, i := range r.replicaIdx() {
		if int(i) < len(old.names) && old.names[i] == name {
			return true
		}
	}
	return false
}

// antiEntropy queues for each member the digest of this node's records it
// should hold (an empty one to a member that should hold none, so that
// records it kept by mistake go). A digest waits in the member's update
// queue behind the records queued before it (dirSender), so it reaches
// the replica after them and never shows them as differences; the
// buckets that still differ are repaired with bucket snapshots sent right
// after the reply (dirSender.digest). A member whose digest from the last
// pass is still queued gets this pass's instead, at the back of its queue:
// at most one digest a member waits, whatever the backlog.
func (n *Node) antiEntropy(cur *ring) {
	if !n.refreshReplicas(cur) {
		return // the ring moved on: the loop refreshes first
	}
	self, _ := cur.index(n.cfg.NodeName)
	asOf := n.tick()
	digests := n.replicaDigests(cur)
	for j, name := range cur.names {
		if j == self {
			continue
		}
		n.snd.enqueueDigest(name, &queuedDigest{ring: cur, j: j, asOf: asOf, sums: &digests[j]})
	}
}

// replicaDigests is, for each member of cur (by index), the digest of this
// node's records it replicates: one pass over the holdings reading each
// record's cached replica set.
func (n *Node) replicaDigests(cur *ring) [][digestBuckets]uint64 {
	k := n.cfg.DirectoryReplicas
	digests := make([][digestBuckets]uint64, len(cur.names))
	var buf [maxReplicas]uint16
	for i := range n.holdings.shards {
		sh := &n.holdings.shards[i]
		sh.mu.RLock()
		for hash, rec := range sh.m {
			reps := rec.replicaIdx()
			if !rec.rankedOn(cur) { // stored under a newer ring meanwhile
				reps = cur.top(buf[:0], hash, k)
			}
			d, b := recDigest(rec.record(hash)), bucketOf(hash)
			for _, j := range reps {
				digests[j][b] ^= d
			}
		}
		sh.mu.RUnlock()
	}
	return digests
}

// repairDeltas is, for cur's member j, an authoritative snapshot of each
// bucket in diff: this node's records there that j replicates, as of asOf
// (each an encoded delta). A bucket lies in one shard of the holdings
// (bucketShard), so only those shards are read.
func (n *Node) repairDeltas(cur *ring, j int, asOf uint64, diff []int) [][]byte {
	k := n.cfg.DirectoryReplicas
	want := map[int][]Record{}
	for _, b := range diff {
		want[b] = nil
	}
	var buf [maxReplicas]uint16
	done := map[int]bool{}
	for _, b := range diff {
		si := bucketShard(b)
		if done[si] {
			continue
		}
		done[si] = true
		sh := &n.holdings.shards[si]
		sh.mu.RLock()
		for hash, rec := range sh.m {
			hb := bucketOf(hash)
			if _, ok := want[hb]; !ok || rec.ver > asOf {
				continue
			}
			reps := rec.replicaIdx()
			if !rec.rankedOn(cur) {
				reps = cur.top(buf[:0], hash, k)
			}
			for _, x := range reps {
				if int(x) == j {
					want[hb] = append(want[hb], rec.record(hash))
					break
				}
			}
		}
		sh.mu.RUnlock()
	}
	out := make([][]byte, 0, len(want))
	for b, recs := range want {
		dl := Delta{Owner: n.cfg.NodeName, Epoch: n.cfg.Epoch, Snapshot: true, AsOf: asOf, Bucketed: true, Bucket: b, Records: recs}
		out = append(out, appendDelta(nil, &dl))
	}
	return out
}

// dropForeign removes the entries this node no longer replicates on cur,
// the ring that followed swept (once the holders had time to hand them to
// their new replicas). Only a member that joined can push this node out
// of an entry's replica set, so an entry costs one score per joined member
// (and a ranking of the ring when one of them outranks this node); with no
// member joined nothing is dropped. Entries this node never replicated
// (kept by mistake) are left to the holders' digests.
func (n *Node) dropForeign(swept, cur *ring) {
	mv := newRingMove(swept, cur)
	if len(mv.added) == 0 {
		return
	}
	self := n.cfg.NodeName
	selfKey := placement.NodeKey(self)
	selfIdx, ok := cur.index(self)
	if !ok {
		return
	}
	k := n.cfg.DirectoryReplicas
	var buf [maxReplicas]uint16
	n.dir.dropIf(func(hash uint64) bool {
		s0 := placement.Score(hash, selfKey)
		beaten := false
		for _, j := range mv.added {
			s := placement.Score(hash, cur.keys[j])
			if s > s0 || (s == s0 && cur.names[j] < self) {
				beaten = true
				break
			}
		}
		if !beaten {
			return false
		}
		for _, j := range cur.top(buf[:0], hash, k) {
			if int(j) == selfIdx {
				return false
			}
		}
		return true
	})
}

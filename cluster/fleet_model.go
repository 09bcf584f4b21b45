package cluster

import (
	"math/rand"
	"runtime"

	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/tiers"
)

// fleetModel is docs/cluster.md's model of one node's share of the
// directory: N nodes, R replicas, H artifacts held per node, s stores a
// second per node, anti-entropy every a seconds. Its per-message sizes are
// the protocol's own (the frames and payloads this package encodes), not
// fitted to a run, so that a run can check the model:
//
//	directory bytes per node   = R x H x b_dir + H x b_own
//	store bytes/s per node     = s x R x (1 - 1/N) x u
//	timer bytes/s per node     = (N - 1) / a x g
//
// where u is one OP_PEER_DIR_UPDATE exchange carrying one record (request
// and reply frames), g one OP_PEER_DIR_DIGEST exchange whose buckets all
// agree, R x (1 - 1/N) the replicas of a record other than its holder,
// and b_dir, b_own the measured heap bytes of a directory entry and of an
// own-holdings record. Bytes are counted at the node that sends the
// requests (requests and their replies); by symmetry that is also what
// goes each way through one node's NIC.
//
// A record is one request of its own (u per record) when a replica has no
// request in flight from its holder when the record comes: at 1,000 nodes
// a replica gets s x R / N = 3 records a second from each holder, so this
// holds there; the bench's steady phase runs at a rate low enough for it to
// hold too (records_per_update reports how far it does).
type fleetModel struct {
	nodes, replicas int
	held            float64 // H
	stores          float64 // s
	ae              float64 // a, seconds
	dirBytes        float64 // b_dir
	ownBytes        float64 // b_own
	update, digest  float64 // u, g
}

func newFleetModel(n *Node, nodes int, stores, ae float64, r *FleetResult) fleetModel {
	return fleetModel{
		nodes: nodes, replicas: n.cfg.DirectoryReplicas, stores: stores, ae: ae,
		dirBytes: r.Directory.BytesPerEntry, ownBytes: r.Model1000.OwnBytesPerRecord,
		update: updateExchangeBytes(n.cfg.NodeName, n.cfg.Epoch),
		digest: digestExchangeBytes(n.cfg.NodeName, n.cfg.Epoch),
	}
}

func (m fleetModel) storeBytesPerS() float64 {
	return m.stores * float64(m.replicas) * (1 - 1/float64(m.nodes)) * m.update
}

func (m fleetModel) timerBytesPerS() float64 {
	return float64(m.nodes-1) / m.ae * m.digest
}

func (m fleetModel) directoryBytes() float64 {
	return float64(m.replicas)*m.held*m.dirBytes + m.held*m.ownBytes
}

// modelRequestID is a typical request id on a long-lived peer connection
// (its varint is part of every frame header).
const modelRequestID = 1 << 14

// exchangeBytes is one request with a payload of req bytes and its reply
// with rep bytes, as frameBytes counts them.
func exchangeBytes(op messages.Op, req, rep int) float64 {
	q := &messages.FrameHeader{Op: op, RequestId: modelRequestID, PayloadLength: uint64(req)}
	a := &messages.FrameHeader{Op: messages.Op_OP_REPLY, RequestId: modelRequestID, PayloadLength: uint64(rep)}
	return float64(frameBytes(q, req, nil) + frameBytes(a, rep, nil))
}

// updateExchangeBytes is one OP_PEER_DIR_UPDATE from owner carrying one
// record, and its empty reply.
func updateExchangeBytes(owner string, epoch uint64) float64 {
	dl := Delta{Owner: owner, Epoch: epoch, Records: []Record{{Hash: ^uint64(0), Kind: tiers.KindCXL, Ver: epoch}}}
	return exchangeBytes(messages.Op_OP_PEER_DIR_UPDATE, len(appendDelta(nil, &dl)), 0)
}

// digestExchangeBytes is one OP_PEER_DIR_DIGEST from owner and its reply
// listing no bucket.
func digestExchangeBytes(owner string, epoch uint64) float64 {
	var dg [digestBuckets]uint64
	return exchangeBytes(messages.Op_OP_PEER_DIR_DIGEST, len(appendDigest(nil, owner, epoch, epoch, &dg)), len(appendBuckets(nil, nil)))
}

// The model's fleet (issue 13): 1,000 nodes x 675k artifacts held per
// node, 1,000 stores a second per node, LAN anti-entropy every 10 s.
const (
	modelNodes        = 1000
	modelPerNode      = 675_000
	modelStoresPerSec = 1000
	modelAEInterval   = 10.0
)

func (r *FleetResult) fillModel(n *Node) {
	m := newFleetModel(n, modelNodes, modelStoresPerSec, modelAEInterval, r)
	m.held = modelPerNode
	out := &r.Model1000
	out.DirectoryEntriesPerNode = float64(m.replicas) * m.held
	out.DirectoryBytesPerNode = m.directoryBytes()
	out.StoreBytesPerSPerNode = m.storeBytesPerS()
	out.AntiEntropyBytesPerSPerNo = m.timerBytesPerS()
	out.ControlBytesPerSPerNode = out.StoreBytesPerSPerNode + out.AntiEntropyBytesPerSPerNo
	out.ControlShareOf100GbitNIC = out.ControlBytesPerSPerNode * 8 / 100e9
	out.SchedulerSummaryBytes = modelNodes * modelPerNode * r.Summary.BitsPerEntry / 8
}

// measureHoldingsBytes is the heap cost of one record of a node's own
// holdings table (its replica set cached), at n records.
func measureHoldingsBytes(n int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	h := newOwnHoldings(1, 0)
	rng := rand.New(rand.NewSource(3))
	for i := 0; i < n; i++ {
		hash := rng.Uint64()
		rec := ownRec{ver: uint64(i + 1), kind: uint8(tiers.KindCXL)}
		rec.setReplicas(1, []uint16{0, 1, 2})
		h.shard(hash).m[hash] = rec
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(h)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

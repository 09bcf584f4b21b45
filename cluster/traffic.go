package cluster

import (
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/messages/frame"
)

// trafficClass says what drove the bytes of a peer request: the
// directory's traffic split by cause, so that what each store costs and
// what the timers cost are measured apart (bench fleet, Stats.Traffic).
type trafficClass uint8

const (
	// trafficStore: records of this node's own stores, evictions and
	// deletes (OP_PEER_DIR_UPDATE).
	trafficStore trafficClass = iota
	// trafficHandoff: records re-sent to new replicas after a ring change.
	trafficHandoff
	// trafficRepair: bucket snapshots sent after a digest differed.
	trafficRepair
	// trafficDigest: the anti-entropy digests (OP_PEER_DIR_DIGEST).
	trafficDigest
	// trafficLookup: directory lookups (OP_PEER_DIR_LOOKUP).
	trafficLookup
	// trafficOther: every other peer op (payloads: fetch, demote; stat,
	// delete, prefetch, directory sync).
	trafficOther
	numTraffic
)

func opClass(op messages.Op) trafficClass {
	switch op {
	case messages.Op_OP_PEER_DIR_UPDATE:
		return trafficStore
	case messages.Op_OP_PEER_DIR_DIGEST:
		return trafficDigest
	case messages.Op_OP_PEER_DIR_LOOKUP:
		return trafficLookup
	}
	return trafficOther
}

// trafficCounters count the bytes, requests and directory records of each
// class.
type trafficCounters struct {
	bytes, requests, records [numTraffic]atomic.Uint64
}

func (t *trafficCounters) add(c trafficClass, bytes, requests, records uint64) {
	t.bytes[c].Add(bytes)
	t.requests[c].Add(requests)
	t.records[c].Add(records)
}

// TrafficClass is one class of peer traffic: frame bytes (prefix, header
// and payload of requests and their replies; not TLS records, TCP/IP
// headers or connection hellos), requests, and directory records carried.
type TrafficClass struct {
	Bytes    uint64
	Requests uint64
	Records  uint64
}

// Traffic is what this node's peer connections carried, by cause, counted
// by the side that sent the requests (so a cluster's total is the sum over
// its nodes).
type Traffic struct {
	Store   TrafficClass // own records (stores, evictions, deletes)
	Handoff TrafficClass // records re-sent after ring changes
	Repair  TrafficClass // bucket snapshots after a digest differed
	Digest  TrafficClass // anti-entropy digests
	Lookup  TrafficClass // directory lookups
	Other   TrafficClass // payloads and the other peer ops
}

// Directory is the directory's part: everything but Other.
func (t Traffic) Directory() uint64 {
	return t.Store.Bytes + t.Handoff.Bytes + t.Repair.Bytes + t.Digest.Bytes + t.Lookup.Bytes
}

func (t *trafficCounters) snapshot() Traffic {
	c := func(k trafficClass) TrafficClass {
		return TrafficClass{Bytes: t.bytes[k].Load(), Requests: t.requests[k].Load(), Records: t.records[k].Load()}
	}
	return Traffic{Store: c(trafficStore), Handoff: c(trafficHandoff), Repair: c(trafficRepair),
		Digest: c(trafficDigest), Lookup: c(trafficLookup), Other: c(trafficOther)}
}

// frameBytes is the size of req's frame with a payload of payloadLen bytes
// (req as sent: its request id assigned) plus rep's, when there is one.
func frameBytes(req *messages.FrameHeader, payloadLen int, rep *frame.Reply) uint64 {
	n := uint64(frame.PrefixLen+proto.Size(req)) + uint64(payloadLen)
	if rep != nil {
		n += frame.PrefixLen + uint64(rep.Prefix.HeaderLen) + rep.Prefix.PayloadLen
	}
	return n
}

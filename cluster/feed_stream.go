package cluster

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/stratacache/stratacache/holdings"
	"github.com/stratacache/stratacache/messages"
)

// streamBatch is the most changes one stream frame carries (~10 bytes
// each on the wire, 16 in memory): what a stream holds besides a resync.
const streamBatch = 8192

// errStreamEnded ends a stream's connection (the subscriber went away or
// sent something: a stream connection carries nothing else).
var errStreamEnded = errors.New("cluster: change stream ended")

// streamFeed serves a held-open change stream (OP_PEER_SUBSCRIBE with
// attrs["stream"] = "1") on this connection until the subscriber leaves,
// the node closes, or a write stalls: every frame is an OP_REPLY to the
// subscribe's request id carrying a holdings.Feed with Stream set and
// From the sequence number its changes follow. The first frame answers
// (epoch, since) as a poll would (a resync when the subscriber is of
// another epoch, ahead, or behind the log); then changes as they happen,
// at most streamBatch a frame, and an empty frame every FeedKeepAlive.
//
// Flow control: the stream keeps no queue. Its state is its place in the
// node's shared log (the ring of FeedLogLen changes) and the one frame it
// is writing, each write bounded by FeedWriteTimeout; a subscriber that
// reads slower than the node changes falls behind in the log, and when
// the log has moved past it the next frame is a resync of the holdings
// as they are. A subscriber that does not read at all loses the stream
// at the write timeout. Either way the node's memory does not grow with
// the subscriber's lag. It always returns an error: the connection ends
// with the stream.
func (s *peerServer) streamFeed(cs *connState, reqID, epoch, since uint64) error {
	n := s.n
	if n.peerStats.streamsOpen.Add(1) > int64(n.cfg.FeedStreams) {
		n.peerStats.streamsOpen.Add(-1)
		n.peerStats.streamsRefused.Add(1)
		if err := s.fail(cs, reqID, fmt.Errorf("%w: %d change streams open (FeedStreams)", ErrPeer, n.cfg.FeedStreams)); err != nil {
			return err
		}
		return errStreamEnded
	}
	defer n.peerStats.streamsOpen.Add(-1)
	n.peerStats.streams.Add(1)
	// A stream connection carries nothing from the subscriber: anything it
	// sends, or its close, ends the stream.
	gone := make(chan struct{})
	go func() {
		var hdr messages.FrameHeader
		_, _ = cs.r.Next(&hdr)
		close(gone)
	}()
	keep := time.NewTicker(n.cfg.FeedKeepAlive)
	defer keep.Stop()
	var out holdings.Feed
	var buf []byte
	first, idle := true, false
	for {
		wake, now := n.holdings.changed()
		n.holdings.sinceMax(epoch, since, streamBatch, &out)
		out.Stream, out.From = true, since
		if out.Resync {
			out.From = out.Seq
			n.peerStats.resyncs.Add(1)
		}
		send := first || idle || out.Resync || len(out.Changes) > 0
		if send && len(out.Changes) > 0 && !out.Resync && n.testStreamSkip.Load() > 0 && n.testStreamSkip.Add(-1) >= 0 {
			send = false // a lost frame (tests): the subscriber must see the gap
		}
		if send {
			buf = holdings.AppendFeed(buf[:0], &out)
			peak(&n.peerStats.streamBufPeak, uint64(cap(buf)+16*cap(out.Changes)))
			_ = cs.c.SetWriteDeadline(time.Now().Add(n.cfg.FeedWriteTimeout))
			if err := s.reply(cs, &messages.FrameHeader{RequestId: reqID}, buf); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					n.peerStats.streamsStalled.Add(1)
				}
				return err
			}
			n.peerStats.streamFrames.Add(1)
			if cap(buf) > 1<<20 {
				buf, out.Changes = nil, nil // a resync's buffers are not kept
			}
		}
		first, idle = false, false
		epoch, since = out.Epoch, out.Seq
		if since < now {
			continue // more than one batch behind: the next at once
		}
		select {
		case <-wake:
		case <-keep.C:
			idle = true
		case <-gone:
			return errStreamEnded
		}
	}
}

// peak raises p to v if v is larger.
func peak(p interface {
	Load() uint64
	CompareAndSwap(old, new uint64) bool
}, v uint64) {
	for {
		old := p.Load()
		if v <= old || p.CompareAndSwap(old, v) {
			return
		}
	}
}

// FeedHoldings returns what this node's change feed reports it holds
// (hash -> tiers.Kind byte) and the feed's epoch and sequence number: what
// a subscriber that has applied everything up to seq should have. For
// tests and checkers; it copies the whole set.
func (n *Node) FeedHoldings() (epoch, seq uint64, held map[uint64]uint8) {
	h := n.holdings
	// Every shard locked, then the log (the table's lock order): the set
	// and the sequence number agree.
	for i := range h.shards {
		h.shards[i].mu.RLock()
	}
	defer func() {
		for i := range h.shards {
			h.shards[i].mu.RUnlock()
		}
	}()
	held = map[uint64]uint8{}
	for i := range h.shards {
		for hash, r := range h.shards[i].m {
			held[hash] = r.kind
		}
	}
	h.logMu.Lock()
	defer h.logMu.Unlock()
	return h.epoch, h.seq, held
}

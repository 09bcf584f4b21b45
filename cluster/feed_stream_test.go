package cluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/holdings"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/messages/frame"
	"github.com/stratacache/stratacache/tiers"
)

// sinceMax hands out a long lag in batches that follow each other.
func TestFeedSinceMaxBatches(t *testing.T) {
	f := newOwnHoldings(3, 100)
	r := newRing([]string{"self"}, 1)
	var clock uint64
	tick := func() uint64 { clock++; return clock }
	for i := 0; i < 50; i++ {
		f.stored(kvID(fmt.Sprint("k", i)).Hash, tiers.KindMemory, tick, r, 3, nil)
	}
	var out holdings.Feed
	var got []holdings.Change
	for since := uint64(0); since < 50; {
		f.sinceMax(3, since, 8, &out)
		if out.Resync || len(out.Changes) == 0 || len(out.Changes) > 8 || out.Seq != since+uint64(len(out.Changes)) {
			t.Fatalf("from %d: %+v", since, out)
		}
		got = append(got, out.Changes...)
		since = out.Seq
	}
	var all holdings.Feed
	f.since(3, 0, &all)
	if len(got) != 50 || fmt.Sprint(got) != fmt.Sprint(all.Changes) {
		t.Fatalf("batches %d changes, differ from the whole: %v", len(got), got)
	}
}

// streamSubscriber opens a raw change stream to n's peer port (the peer
// token, since fastConfig sets none) with a tiny receive buffer, and
// returns the connection and its reader without reading further.
func streamSubscriber(t *testing.T, n *Node, epoch, since uint64) (*net.TCPConn, *frame.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", n.PeerAddr(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tc := c.(*net.TCPConn)
	_ = tc.SetReadBuffer(4096)
	t.Cleanup(func() { _ = tc.Close() })
	r := frame.NewReader(tc, frame.DefaultLimits())
	if _, err := frame.Write(tc, nil, &messages.FrameHeader{RequestId: 1, Op: messages.Op_OP_PEER_HELLO, NodeName: "sub"}); err != nil {
		t.Fatal(err)
	}
	var hdr messages.FrameHeader
	_ = tc.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := r.Next(&hdr); err != nil || hdr.GetOp() != messages.Op_OP_REPLY {
		t.Fatalf("hello: %v %v", hdr.GetOp(), err)
	}
	if _, err := frame.Write(tc, nil, &messages.FrameHeader{RequestId: 2, Op: messages.Op_OP_PEER_SUBSCRIBE, Attrs: map[string]string{
		"epoch": strconv.FormatUint(epoch, 10), "since": strconv.FormatUint(since, 10), "stream": "1"}}); err != nil {
		t.Fatal(err)
	}
	return tc, r
}

// nextFeed reads one stream frame.
func nextFeed(t *testing.T, c *net.TCPConn, r *frame.Reader, fd *holdings.Feed) {
	t.Helper()
	var hdr messages.FrameHeader
	_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := r.Next(&hdr); err != nil || hdr.GetOp() != messages.Op_OP_REPLY || hdr.GetRequestId() != 2 {
		t.Fatalf("stream frame: %v %d %v", hdr.GetOp(), hdr.GetRequestId(), err)
	}
	b := make([]byte, r.Pending())
	if err := r.ReadPayload(b); err != nil {
		t.Fatal(err)
	}
	if err := holdings.DecodeFeed(b, fd); err != nil || !fd.Stream {
		t.Fatalf("decode: %v (stream %v)", err, fd.Stream)
	}
}

// A subscriber that stops reading costs the node a bounded amount: the
// stream keeps no queue (its place in the shared log and one frame), its
// write stalls and is cut at FeedWriteTimeout, and the node's log stays
// at FeedLogLen however many changes pass meanwhile. A stream that
// reconnects behind the log gets a resync equal to the node's holdings.
func TestFeedStreamStalledSubscriberIsBounded(t *testing.T) {
	const logLen = 1024
	_, nodes := startCluster(t, 1, clusterOpts{noJoin: true, cfg: func(_ int, c *Config) {
		c.FeedLogLen = logLen
		c.FeedWriteTimeout = 300 * time.Millisecond
		c.FeedKeepAlive = 50 * time.Millisecond
	}})
	n := nodes[0].n
	rng := rand.New(rand.NewPCG(31, 31))
	id := func(h uint64) artifact.ID { return artifact.ID{Namespace: artifact.NamespaceKV, Hash: h} }
	var held []uint64
	const hold = 20_000
	for i := 0; i < hold; i++ {
		h := rng.Uint64()
		held = append(held, h)
		n.Observe(Event{Kind: EventStored, ID: id(h), Tier: tiers.KindCXL})
	}
	c, r := streamSubscriber(t, n, 0, 0)
	var fd holdings.Feed
	nextFeed(t, c, r, &fd)
	if !fd.Resync || len(fd.Changes) != hold {
		t.Fatalf("first frame: resync %v, %d changes", fd.Resync, len(fd.Changes))
	}
	// The subscriber reads no more. The node churns its holdings (an
	// eviction and a store per step, straight into its feed: what Observe
	// does first) until the stream's write stalls past
	// FeedWriteTimeout; bounded by a deadline.
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; n.peerStatsSnapshot().StreamsStalled == 0; i++ {
		if i%1024 == 0 && time.Now().After(deadline) {
			t.Fatalf("no stall after %d changes: %+v", 2*i, n.peerStatsSnapshot())
		}
		j := rng.IntN(len(held))
		n.Observe(Event{Kind: EventEvicted, ID: id(held[j]), Tier: tiers.KindCXL})
		held[j] = rng.Uint64()
		n.Observe(Event{Kind: EventStored, ID: id(held[j]), Tier: tiers.KindCXL})
	}
	s := n.peerStatsSnapshot()
	// A frame is at most the holdings (a resync: 16 B per change in
	// memory, 10 on the wire) or streamBatch changes, whatever the lag.
	bound := uint64(26*hold + 26*streamBatch + 4096)
	if s.StreamBufPeak > bound {
		t.Fatalf("a stream held %d bytes, bound %d", s.StreamBufPeak, bound)
	}
	if got := len(n.holdings.log); got > logLen {
		t.Fatalf("the feed's log grew to %d (log %d)", got, logLen)
	}
	waitFor(t, 60*time.Second, "the stalled stream to end", func() bool { return n.peerStatsSnapshot().StreamsOpen == 0 })
	// Reconnecting at where it was (epoch, seq of the first frame): the
	// log moved past it, so the first frame is a resync of the holdings.
	c2, r2 := streamSubscriber(t, n, fd.Epoch, fd.Seq)
	nextFeed(t, c2, r2, &fd)
	epoch, seq, now := n.FeedHoldings()
	if !fd.Resync || fd.Epoch != epoch || fd.Seq != seq || len(fd.Changes) != len(now) {
		t.Fatalf("reconnect: resync %v epoch %d/%d seq %d/%d, %d changes for %d held", fd.Resync, fd.Epoch, epoch, fd.Seq, seq, len(fd.Changes), len(now))
	}
	for _, ch := range fd.Changes {
		if k, ok := now[ch.Hash]; !ok || k != ch.Kind {
			t.Fatalf("resync lists %x (kind %d), the node holds kind %d (%v)", ch.Hash, ch.Kind, k, ok)
		}
	}
	t.Logf("stalled after %d stream frames; peak stream buffers %d B (bound %d); %+v", s.StreamFrames, s.StreamBufPeak, bound, s)
}

// Streams beyond FeedStreams are refused; the others go on.
func TestFeedStreamsBounded(t *testing.T) {
	_, nodes := startCluster(t, 1, clusterOpts{noJoin: true, cfg: func(_ int, c *Config) { c.FeedStreams = 1 }})
	n := nodes[0].n
	c, r := streamSubscriber(t, n, 0, 0)
	var fd holdings.Feed
	nextFeed(t, c, r, &fd)
	c2, r2 := streamSubscriber(t, n, 0, 0)
	var hdr messages.FrameHeader
	_ = c2.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := r2.Next(&hdr); err != nil || hdr.GetOp() != messages.Op_OP_ERROR {
		t.Fatalf("second stream: %v %v", hdr.GetOp(), err)
	}
	n.Observe(Event{Kind: EventStored, ID: kvID("after"), Tier: tiers.KindMemory})
	for fd.Seq < 1 {
		nextFeed(t, c, r, &fd) // keep-alives, then the change
	}
	if len(fd.Changes) != 1 || fd.From != 0 || fd.Changes[0].Hash != kvID("after").Hash {
		t.Fatalf("first stream after the refusal: %+v", fd)
	}
	if s := n.peerStatsSnapshot(); s.StreamsRefused != 1 || s.Streams != 1 {
		t.Fatalf("%+v", s)
	}
}

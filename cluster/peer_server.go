package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/holdings"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/messages/frame"
	"github.com/stratacache/stratacache/tiers"
)

// handshakeTimeout bounds a new peer connection's OP_PEER_HELLO.
const handshakeTimeout = 5 * time.Second

// PeerStats counts what the peer server answered.
type PeerStats struct {
	Conns, Refused                       uint64
	Forbidden                            uint64 // requests refused to the connection's role
	Fetches, FetchHits, FetchBytes       uint64
	Demotes, DemoteRefused, DemoteBytes  uint64
	Stats, Deletes, Prefetches, DirSyncs uint64
	BadRequests                          uint64
	Subscribes, Resyncs, Summaries       uint64 // change-feed polls and streams, those answered with the whole set, summaries
	// Streams: change streams opened; StreamsOpen: serving now;
	// StreamsRefused: over Config.FeedStreams; StreamsStalled: ended
	// because a subscriber did not read within FeedWriteTimeout;
	// StreamFrames: frames sent. StreamBufPeak: the most bytes one
	// stream's buffers held at once (what a stream costs the node).
	Streams, StreamsOpen, StreamsRefused, StreamsStalled, StreamFrames, StreamBufPeak uint64
}

type peerCounters struct {
	conns, refused, forbidden           atomic.Uint64
	fetches, fetchHits, fetchBytes      atomic.Uint64
	demotes, demoteRefused, demoteBytes atomic.Uint64
	stats, deletes, prefetches, dirSync atomic.Uint64
	badRequests                         atomic.Uint64
	subscribes, resyncs, summaries      atomic.Uint64
	streams, streamsRefused             atomic.Uint64
	streamsStalled, streamFrames        atomic.Uint64
	streamsOpen                         atomic.Int64
	streamBufPeak                       atomic.Uint64
}

// peerServer answers peers' requests on the node's local tiers.
type peerServer struct {
	n   *Node
	lim frame.Limits

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func newPeerServer(n *Node) *peerServer {
	lim := frame.DefaultLimits()
	lim.MaxPayloadBytes = uint64(n.cfg.MaxArtifactBytes)
	return &peerServer{n: n, lim: lim, conns: map[net.Conn]struct{}{}}
}

// serve accepts until the listener closes.
func (s *peerServer) serve(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.handle(c)
	}
}

// handle serves one connection in its own goroutine; false if closed.
func (s *peerServer) handle(c net.Conn) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.serveConn(c)
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	return true
}

func (s *peerServer) close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
}

// connState is the per-connection scratch of the server.
type connState struct {
	c       net.Conn
	r       *frame.Reader
	scratch []byte
	buf     []byte // demote payloads
	peer    string
	role    Role // from the hello's token
	feed    holdings.Feed
	feedBuf []byte
}

func (s *peerServer) reply(cs *connState, hdr *messages.FrameHeader, payload ...[]byte) error {
	hdr.Op = messages.Op_OP_REPLY
	var err error
	cs.scratch, err = frame.Write(cs.c, cs.scratch, hdr, payload...)
	return err
}

func (s *peerServer) fail(cs *connState, reqID uint64, err error) error {
	hdr := &messages.FrameHeader{RequestId: reqID, Op: messages.Op_OP_ERROR, ErrorCode: codeOf(err), Error: err.Error()}
	var werr error
	cs.scratch, werr = frame.Write(cs.c, cs.scratch, hdr)
	return werr
}

func (s *peerServer) serveConn(c net.Conn) {
	n := s.n
	n.peerStats.conns.Add(1)
	cs := &connState{c: c, r: frame.NewReader(c, s.lim)}
	var hdr messages.FrameHeader
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	if _, err := cs.r.Next(&hdr); err != nil {
		return
	}
	role := Role(0)
	if hdr.Op == messages.Op_OP_PEER_HELLO {
		role = roleOf(&n.cfg, hdr.AuthToken)
	}
	if role == 0 {
		n.peerStats.refused.Add(1)
		n.log.Warn("peer refused", slog.String("remote", c.RemoteAddr().String()), slog.String("node", hdr.NodeName))
		_ = s.fail(cs, hdr.RequestId, fmt.Errorf("%w: bad hello or token", ErrUnauthorized))
		return
	}
	cs.peer, cs.role = hdr.NodeName, role
	if err := s.reply(cs, &messages.FrameHeader{RequestId: hdr.RequestId, NodeName: n.cfg.NodeName, Epoch: n.cfg.Epoch,
		Attrs: map[string]string{"role": role.String()}}); err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})
	for {
		if _, err := cs.r.Next(&hdr); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				n.log.Debug("peer connection ended", slog.String("peer", cs.peer), slog.Any("err", err))
			}
			return
		}
		if err := s.dispatch(cs, &hdr); err != nil {
			return
		}
	}
}

// dispatch answers one request; an error means the connection is broken.
func (s *peerServer) dispatch(cs *connState, hdr *messages.FrameHeader) error {
	n := s.n
	if !allowed(cs.role, hdr.Op) {
		n.peerStats.forbidden.Add(1)
		if err := cs.r.Discard(); err != nil {
			return err
		}
		return s.fail(cs, hdr.RequestId, fmt.Errorf("%w: role %s may not ask for %v", ErrUnauthorized, cs.role, hdr.Op))
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.DemoteTimeout)
	defer cancel()
	switch hdr.Op {
	case messages.Op_OP_PEER_FETCH:
		return s.onFetch(cs, hdr)
	case messages.Op_OP_PEER_DEMOTE:
		return s.onDemote(ctx, cs, hdr)
	case messages.Op_OP_PEER_STAT:
		n.peerStats.stats.Add(1)
		id, err := s.oneID(cs, hdr)
		if err != nil {
			return s.fail(cs, hdr.RequestId, err)
		}
		m, _, err := n.localStat(id)
		if err != nil {
			return s.fail(cs, hdr.RequestId, err)
		}
		return s.reply(cs, &messages.FrameHeader{RequestId: hdr.RequestId, Meta: messages.MetaToProto(m)})
	case messages.Op_OP_PEER_DELETE:
		n.peerStats.deletes.Add(1)
		id, err := s.oneID(cs, hdr)
		if err != nil {
			return s.fail(cs, hdr.RequestId, err)
		}
		found, err := n.deleteForPeer(ctx, id)
		if err != nil {
			return s.fail(cs, hdr.RequestId, err)
		}
		// ver is a tick of this node's clock taken after the delete: newer
		// than every version it reported for id before, older than any
		// later store. The caller records a tombstone at it, so that a
		// report of the deleted copy still on its way cannot list it again.
		return s.reply(cs, &messages.FrameHeader{RequestId: hdr.RequestId, Attrs: map[string]string{
			"found": strconv.FormatBool(found),
			"ver":   strconv.FormatUint(n.tick(), 10),
		}})
	case messages.Op_OP_PEER_PREFETCH:
		n.peerStats.prefetches.Add(1)
		if err := cs.r.Discard(); err != nil {
			return err
		}
		warmed := 0
		for _, p := range hdr.Ids {
			id, err := messages.IDFromProto(p)
			if err != nil {
				n.peerStats.badRequests.Add(1)
				return s.fail(cs, hdr.RequestId, fmt.Errorf("%w: %w", tiers.ErrNotFound, err))
			}
			if n.warm(ctx, id) {
				warmed++
			}
		}
		return s.reply(cs, &messages.FrameHeader{RequestId: hdr.RequestId, Attrs: map[string]string{"warmed": strconv.Itoa(warmed)}})
	case messages.Op_OP_PEER_SUBSCRIBE:
		return s.onSubscribe(cs, hdr)
	case messages.Op_OP_PEER_SUMMARY:
		n.peerStats.summaries.Add(1)
		if err := cs.r.Discard(); err != nil {
			return err
		}
		b, err := n.holdings.summary()
		if err != nil {
			return s.fail(cs, hdr.RequestId, err)
		}
		return s.reply(cs, &messages.FrameHeader{RequestId: hdr.RequestId}, b)
	case messages.Op_OP_PEER_DIR_UPDATE:
		return s.onDirUpdate(cs, hdr)
	case messages.Op_OP_PEER_DIR_LOOKUP:
		return s.onDirLookup(cs, hdr)
	case messages.Op_OP_PEER_DIR_DIGEST:
		return s.onDirDigest(cs, hdr)
	case messages.Op_OP_PEER_DIR_SYNC:
		n.peerStats.dirSync.Add(1)
		if err := cs.r.Discard(); err != nil {
			return err
		}
		b := n.ownSnapshot(nil, 1<<30)
		return s.reply(cs, &messages.FrameHeader{RequestId: hdr.RequestId}, b)
	}
	n.peerStats.badRequests.Add(1)
	if err := cs.r.Discard(); err != nil {
		return err
	}
	return s.fail(cs, hdr.RequestId, fmt.Errorf("%w: op %v is not a peer op", ErrPeer, hdr.Op))
}

// oneID validates the single id of a request (the full key is checked
// against its hash: a peer cannot make us serve another key).
func (s *peerServer) oneID(cs *connState, hdr *messages.FrameHeader) (artifact.ID, error) {
	if len(hdr.Ids) != 1 {
		s.n.peerStats.badRequests.Add(1)
		return artifact.ID{}, fmt.Errorf("%w: %d ids, want 1", ErrPeer, len(hdr.Ids))
	}
	id, err := messages.IDFromProto(hdr.Ids[0])
	if err != nil {
		s.n.peerStats.badRequests.Add(1)
		return artifact.ID{}, fmt.Errorf("%w: %w", ErrPeer, err)
	}
	if hdr.Op != messages.Op_OP_PEER_DEMOTE && cs.r.Pending() > 0 {
		if err := cs.r.Discard(); err != nil {
			return artifact.ID{}, err
		}
	}
	return id.Clone(), nil
}

// onFetch streams id's payload from the first local tier holding it, straight
// from the tier's view (one writev, no copy).
func (s *peerServer) onFetch(cs *connState, hdr *messages.FrameHeader) error {
	n := s.n
	n.peerStats.fetches.Add(1)
	if h := n.testFetchHook.Load(); h != nil {
		(*h)()
	}
	id, err := s.oneID(cs, hdr)
	if err != nil {
		return s.fail(cs, hdr.RequestId, err)
	}
	v, tier, err := n.localView(id)
	if err != nil {
		return s.fail(cs, hdr.RequestId, err)
	}
	defer v.Release()
	b := v.Bytes()
	n.peerStats.fetchHits.Add(1)
	n.peerStats.fetchBytes.Add(uint64(len(b)))
	m := v.Meta()
	m.Length = int64(len(b))
	return s.reply(cs, &messages.FrameHeader{RequestId: hdr.RequestId, Meta: messages.MetaToProto(m), Tier: tier}, b)
}

// onDemote stores a peer's payload in the pool tier if it has the room
// without evicting anything (a guest never pushes out the host's data).
func (s *peerServer) onDemote(ctx context.Context, cs *connState, hdr *messages.FrameHeader) error {
	n := s.n
	n.peerStats.demotes.Add(1)
	id, idErr := s.oneID(cs, hdr)
	size := cs.r.Pending()
	if idErr != nil {
		if err := cs.r.Discard(); err != nil {
			return err
		}
		return s.fail(cs, hdr.RequestId, idErr)
	}
	meta, err := messages.MetaFromProto(hdr.Meta)
	if err != nil {
		n.peerStats.badRequests.Add(1)
		if err := cs.r.Discard(); err != nil {
			return err
		}
		return s.fail(cs, hdr.RequestId, fmt.Errorf("%w: %w", ErrPeer, err))
	}
	pool := n.poolTier()
	if pool == nil || n.poolFree() < int64(size) {
		n.peerStats.demoteRefused.Add(1)
		if err := cs.r.Discard(); err != nil {
			return err
		}
		return s.fail(cs, hdr.RequestId, fmt.Errorf("%w: pool has %d bytes free, need %d", tiers.ErrNoSpace, max(n.poolFree(), 0), size))
	}
	if uint64(cap(cs.buf)) < size {
		cs.buf = make([]byte, size)
	}
	buf := cs.buf[:size]
	if err := cs.r.ReadPayload(buf); err != nil {
		return err
	}
	if artifact.Checksum(buf) != meta.Checksum {
		n.peerStats.badRequests.Add(1)
		return s.fail(cs, hdr.RequestId, fmt.Errorf("%w: demoted payload", tiers.ErrCorrupt))
	}
	meta.Epoch = n.cfg.Epoch
	err = n.store.Store(ctx, id, buf, actors.StoreOptions{Access: actors.Exact(pool.Name()), Meta: meta})
	if cap(cs.buf) > 16<<20 {
		cs.buf = nil // do not pin a 64 MiB buffer per idle connection
	}
	if err != nil {
		n.peerStats.demoteRefused.Add(1)
		return s.fail(cs, hdr.RequestId, err)
	}
	n.peerStats.demoteBytes.Add(size)
	return s.reply(cs, &messages.FrameHeader{RequestId: hdr.RequestId, Tier: pool.Name()})
}

// onSubscribe answers a change-feed poll: attrs "epoch" and "since" (0 and
// 0 for a first poll) name where the subscriber is.
func (s *peerServer) onSubscribe(cs *connState, hdr *messages.FrameHeader) error {
	n := s.n
	n.peerStats.subscribes.Add(1)
	if err := cs.r.Discard(); err != nil {
		return err
	}
	var epoch, since uint64
	for k, dst := range map[string]*uint64{"epoch": &epoch, "since": &since} {
		if v, ok := hdr.Attrs[k]; ok {
			x, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				n.peerStats.badRequests.Add(1)
				return s.fail(cs, hdr.RequestId, fmt.Errorf("%w: subscribe %s %q", ErrPeer, k, v))
			}
			*dst = x
		}
	}
	if hdr.Attrs["stream"] == "1" {
		return s.streamFeed(cs, hdr.RequestId, epoch, since)
	}
	cs.feed.Changes = cs.feed.Changes[:0]
	n.holdings.since(epoch, since, &cs.feed)
	if cs.feed.Resync {
		n.peerStats.resyncs.Add(1)
	}
	cs.feedBuf = holdings.AppendFeed(cs.feedBuf[:0], &cs.feed)
	err := s.reply(cs, &messages.FrameHeader{RequestId: hdr.RequestId}, cs.feedBuf)
	if cap(cs.feedBuf) > 1<<20 {
		cs.feedBuf, cs.feed.Changes = nil, nil // do not pin a resync's buffers per idle connection
	}
	return err
}

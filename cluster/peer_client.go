package cluster

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"

	"github.com/cespare/xxhash/v2"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/messages/frame"
	"github.com/stratacache/stratacache/tiers"
)

// Errors of the peer transport.
var (
	// ErrUnauthorized: the peer refused our token, or a peer presented a
	// wrong one.
	ErrUnauthorized = errors.New("cluster: peer unauthorized")
	// ErrPeer: the peer answered with an error that has no sentinel here, or
	// broke the protocol.
	ErrPeer = errors.New("cluster: peer error")
)

// Error codes carried in FrameHeader.error_code by peer replies.
const (
	codeNotFound     = "not_found"
	codeNoSpace      = "no_space"
	codeTooLarge     = "too_large"
	codeCollision    = "collision"
	codeBadRequest   = "bad_request"
	codeUnauthorized = "unauthorized"
	codeInternal     = "internal"
)

func codeOf(err error) string {
	switch {
	case errors.Is(err, tiers.ErrNotFound), errors.Is(err, tiers.ErrCorrupt):
		return codeNotFound
	case errors.Is(err, tiers.ErrNoSpace):
		return codeNoSpace
	case errors.Is(err, tiers.ErrTooLarge):
		return codeTooLarge
	case errors.Is(err, tiers.ErrCollision):
		return codeCollision
	case errors.Is(err, ErrUnauthorized):
		return codeUnauthorized
	case errors.Is(err, ErrPeer):
		return codeBadRequest
	}
	return codeInternal
}

func errOfCode(code, text string) error {
	var s error
	switch code {
	case codeNotFound:
		s = tiers.ErrNotFound
	case codeNoSpace:
		s = tiers.ErrNoSpace
	case codeTooLarge:
		s = tiers.ErrTooLarge
	case codeCollision:
		s = tiers.ErrCollision
	case codeUnauthorized:
		s = ErrUnauthorized
	default:
		s = ErrPeer
	}
	return fmt.Errorf("%w (peer: %s)", s, text)
}

// hashChunk is how much of a fetched payload is read before it is hashed.
const hashChunk = 256 << 10

// readAndHash reads len(buf) payload bytes and, with verify, returns their
// xxhash64. Payloads over two chunks are hashed by a second goroutine one
// chunk behind the reads, so that on two cores the hash overlaps the
// socket copy instead of following it.
func readAndHash(r *frame.Reply, buf []byte, verify bool) (uint64, error) {
	if !verify {
		return 0, r.ReadPayload(buf)
	}
	var d xxhash.Digest
	d.Reset()
	if len(buf) <= 2*hashChunk {
		if err := r.ReadPayload(buf); err != nil {
			return 0, err
		}
		_, _ = d.Write(buf)
		return d.Sum64(), nil
	}
	chunks := make(chan []byte, len(buf)/hashChunk+1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range chunks {
			_, _ = d.Write(c)
		}
	}()
	var err error
	for off := 0; off < len(buf) && err == nil; {
		end := min(off+hashChunk, len(buf))
		if err = r.ReadPayload(buf[off:end]); err == nil {
			chunks <- buf[off:end]
		}
		off = end
	}
	close(chunks)
	<-done
	return d.Sum64(), err
}

// peerConn is one authenticated connection to a peer (a messages/frame
// Conn, the native protocol's one framed client), used by one request at
// a time.
type peerConn struct {
	fc   *frame.Conn
	peer string // the peer's node name from its hello reply
}

// peerPool keeps idle connections per peer address.
type peerPool struct {
	self    string
	epoch   uint64
	token   []byte
	dialer  Dialer
	maxIdle int
	lim     frame.Limits
	verify  bool
	tls     *tls.Config

	mu     sync.Mutex
	idle   map[string][]*peerConn
	closed bool

	// traffic counts the frames of every call by op class; a caller that
	// accounts for itself (the directory's sender) uses callBytes.
	traffic *trafficCounters
}

func newPeerPool(cfg *Config, traffic *trafficCounters) *peerPool {
	lim := frame.DefaultLimits()
	lim.MaxPayloadBytes = uint64(cfg.MaxArtifactBytes) + 1
	return &peerPool{
		self: cfg.NodeName, epoch: cfg.Epoch, token: cfg.PeerToken,
		dialer: cfg.Dialer, maxIdle: cfg.MaxIdleConns, lim: lim, verify: !cfg.SkipFetchChecksum, tls: cfg.PeerTLS,
		idle: map[string][]*peerConn{}, traffic: traffic,
	}
}

// get returns an idle connection to addr or dials and authenticates one.
func (p *peerPool) get(ctx context.Context, addr string) (*peerConn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if l := p.idle[addr]; len(l) > 0 {
		pc := l[len(l)-1]
		p.idle[addr] = l[:len(l)-1]
		p.mu.Unlock()
		return pc, nil
	}
	p.mu.Unlock()
	fc, rep, err := frame.Dial(ctx, addr, frame.DialConfig{Dialer: p.dialer, TLS: p.tls, Limits: p.lim,
		Hello: &messages.FrameHeader{Op: messages.Op_OP_PEER_HELLO, NodeName: p.self, Epoch: p.epoch, AuthToken: p.token}})
	if err != nil {
		switch {
		case errors.Is(err, frame.ErrTLS):
			return nil, fmt.Errorf("%w: %w", ErrUnauthorized, err)
		case isReply(err):
			return nil, fmt.Errorf("hello: %w", peerErr(err))
		}
		return nil, fmt.Errorf("dial peer %s: %w", addr, err)
	}
	if rep.Op != messages.Op_OP_REPLY {
		_ = fc.Close()
		return nil, fmt.Errorf("%w: hello reply op %v", ErrPeer, rep.Op)
	}
	return &peerConn{fc: fc, peer: rep.NodeName}, nil
}

// put returns a healthy connection to the pool.
func (p *peerPool) put(addr string, pc *peerConn) {
	p.mu.Lock()
	if !p.closed && len(p.idle[addr]) < p.maxIdle && pc.fc.Err() == nil {
		p.idle[addr] = append(p.idle[addr], pc)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	_ = pc.fc.Close()
}

// forget closes the idle connections to addr (the peer left).
func (p *peerPool) forget(addr string) {
	p.mu.Lock()
	l := p.idle[addr]
	delete(p.idle, addr)
	p.mu.Unlock()
	for _, pc := range l {
		_ = pc.fc.Close()
	}
}

func (p *peerPool) close() {
	p.mu.Lock()
	p.closed = true
	all := p.idle
	p.idle = map[string][]*peerConn{}
	p.mu.Unlock()
	for _, l := range all {
		for _, pc := range l {
			_ = pc.fc.Close()
		}
	}
}

// isReply reports whether err is the peer's error reply (the connection is
// still in step and may be reused).
func isReply(err error) bool {
	var re *frame.RemoteError
	return errors.As(err, &re)
}

// peerErr maps a peer's error reply to this package's errors.
func peerErr(err error) error {
	var re *frame.RemoteError
	if errors.As(err, &re) {
		return errOfCode(re.Code, re.Message)
	}
	return err
}

// tokenOK compares tokens in constant time.
func tokenOK(want, got []byte) bool {
	if len(want) == 0 {
		return true
	}
	return subtle.ConstantTimeCompare(want, got) == 1
}

// call runs one request on a pooled connection to addr: handle reads the
// reply (and its payload). The connection goes back to the pool after a
// success or an error reply, and is closed after anything else. Its frames
// count as traffic of the op's class.
func (p *peerPool) call(ctx context.Context, addr string, req *messages.FrameHeader, payload []byte,
	handle func(rep *frame.Reply) error) error {
	n, err := p.callBytes(ctx, addr, req, payload, handle)
	if n > 0 && p.traffic != nil {
		p.traffic.add(opClass(req.Op), n, 1, 0)
	}
	return err
}

// callBytes is call without the accounting: it returns the bytes of the
// request's frame and its reply's (0 when nothing was sent).
func (p *peerPool) callBytes(ctx context.Context, addr string, req *messages.FrameHeader, payload []byte,
	handle func(rep *frame.Reply) error) (uint64, error) {
	pc, err := p.get(ctx, addr)
	if err != nil {
		return 0, err
	}
	var rep *frame.Reply
	if payload != nil {
		rep, err = pc.fc.RoundTrip(ctx, req, payload)
	} else {
		rep, err = pc.fc.RoundTrip(ctx, req)
	}
	var n uint64
	if err == nil || isReply(err) {
		n = frameBytes(req, len(payload), rep)
	}
	if err == nil {
		if rep.Header.Op != messages.Op_OP_REPLY {
			err = fmt.Errorf("%w: reply op %v", ErrPeer, rep.Header.Op)
		} else if handle != nil {
			err = handle(rep)
		}
		_ = rep.Close()
	}
	if err == nil || isReply(err) {
		p.put(addr, pc)
	} else {
		_ = pc.fc.Close()
	}
	return n, peerErr(err)
}

// fetch reads id from the peer at addr. alloc returns the buffer for n
// payload bytes (nil: a new slice).
func (p *peerPool) fetch(ctx context.Context, addr string, id artifact.ID, alloc func(n int) []byte) ([]byte, artifact.Meta, string, error) {
	var buf []byte
	var meta artifact.Meta
	var tier string
	req := &messages.FrameHeader{Op: messages.Op_OP_PEER_FETCH, Ids: []*messages.ArtifactID{messages.IDToProto(id)}}
	err := p.call(ctx, addr, req, nil, func(rep *frame.Reply) error {
		m, err := messages.MetaFromProto(rep.Header.Meta)
		if err != nil {
			return fmt.Errorf("%w: fetch reply: %w", ErrPeer, err)
		}
		n := rep.Pending()
		if n > p.lim.MaxPayloadBytes || int64(n) != m.Length {
			return fmt.Errorf("%w: fetch reply of %d bytes, meta says %d", ErrPeer, n, m.Length)
		}
		if alloc != nil {
			buf = alloc(int(n))
		} else {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		sum, err := readAndHash(rep, buf, p.verify)
		if err != nil {
			return err
		}
		if p.verify && sum != m.Checksum {
			return fmt.Errorf("%w: fetched payload fails its checksum", tiers.ErrCorrupt)
		}
		meta, tier = m, rep.Header.Tier
		return nil
	})
	return buf, meta, tier, err
}

// demote stores id into the peer's pool tier.
func (p *peerPool) demote(ctx context.Context, addr string, id artifact.ID, payload []byte, meta artifact.Meta) (string, error) {
	meta.Length = int64(len(payload))
	meta.Checksum = artifact.Checksum(payload)
	req := &messages.FrameHeader{Op: messages.Op_OP_PEER_DEMOTE, Ids: []*messages.ArtifactID{messages.IDToProto(id)},
		Meta: messages.MetaToProto(meta)}
	var tier string
	err := p.call(ctx, addr, req, payload, func(rep *frame.Reply) error {
		tier = rep.Header.Tier
		return nil
	})
	return tier, err
}

// stat asks the peer for id's metadata.
func (p *peerPool) stat(ctx context.Context, addr string, id artifact.ID) (artifact.Meta, error) {
	var meta artifact.Meta
	req := &messages.FrameHeader{Op: messages.Op_OP_PEER_STAT, Ids: []*messages.ArtifactID{messages.IDToProto(id)}}
	err := p.call(ctx, addr, req, nil, func(rep *frame.Reply) error {
		m, err := messages.MetaFromProto(rep.Header.Meta)
		if err != nil {
			return fmt.Errorf("%w: stat reply: %w", ErrPeer, err)
		}
		meta = m
		return nil
	})
	return meta, err
}

// simple runs a request whose reply carries nothing but success (delete:
// attrs["found"]; prefetch).
func (p *peerPool) simple(ctx context.Context, addr string, op messages.Op, ids []artifact.ID) (map[string]string, error) {
	req := &messages.FrameHeader{Op: op}
	for _, id := range ids {
		req.Ids = append(req.Ids, messages.IDToProto(id))
	}
	var attrs map[string]string
	err := p.call(ctx, addr, req, nil, func(rep *frame.Reply) error {
		attrs = rep.Header.Attrs
		return nil
	})
	return attrs, err
}

// dirSync fetches the peer's own directory entries as an encoded delta.
func (p *peerPool) dirSync(ctx context.Context, addr string) ([]byte, error) {
	var b []byte
	req := &messages.FrameHeader{Op: messages.Op_OP_PEER_DIR_SYNC}
	err := p.call(ctx, addr, req, nil, func(rep *frame.Reply) error {
		var err error
		b, err = rep.Bytes()
		return err
	})
	return b, err
}

const (
	opPeerDelete   = messages.Op_OP_PEER_DELETE
	opPeerPrefetch = messages.Op_OP_PEER_PREFETCH
)

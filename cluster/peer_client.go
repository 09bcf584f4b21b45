package cluster

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

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
func readAndHash(r *frame.Reader, buf []byte, verify bool) (uint64, error) {
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

// peerConn is one authenticated connection to a peer, used by one request
// at a time.
type peerConn struct {
	c       net.Conn
	r       *frame.Reader
	scratch []byte
	reqID   uint64
	peer    string // the peer's node name from its hello reply
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
}

func newPeerPool(cfg *Config) *peerPool {
	lim := frame.DefaultLimits()
	lim.MaxPayloadBytes = uint64(cfg.MaxArtifactBytes) + 1
	return &peerPool{
		self: cfg.NodeName, epoch: cfg.Epoch, token: cfg.PeerToken,
		dialer: cfg.Dialer, maxIdle: cfg.MaxIdleConns, lim: lim, verify: !cfg.SkipFetchChecksum, tls: cfg.PeerTLS,
		idle: map[string][]*peerConn{},
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
	c, err := p.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial peer %s: %w", addr, err)
	}
	if p.tls != nil {
		cfg := p.tls.Clone()
		if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
			host, _, _ := net.SplitHostPort(addr)
			cfg.ServerName = host
		}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("%w: tls with peer %s: %w", ErrUnauthorized, addr, err)
		}
		c = tc
	}
	pc := &peerConn{c: c, r: frame.NewReader(c, p.lim)}
	if err := pc.hello(ctx, p.self, p.epoch, p.token); err != nil {
		_ = c.Close()
		return nil, err
	}
	return pc, nil
}

// put returns a healthy connection to the pool.
func (p *peerPool) put(addr string, pc *peerConn) {
	_ = pc.c.SetDeadline(time.Time{})
	p.mu.Lock()
	if !p.closed && len(p.idle[addr]) < p.maxIdle {
		p.idle[addr] = append(p.idle[addr], pc)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	_ = pc.c.Close()
}

// forget closes the idle connections to addr (the peer left).
func (p *peerPool) forget(addr string) {
	p.mu.Lock()
	l := p.idle[addr]
	delete(p.idle, addr)
	p.mu.Unlock()
	for _, pc := range l {
		_ = pc.c.Close()
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
			_ = pc.c.Close()
		}
	}
}

func (pc *peerConn) deadline(ctx context.Context) {
	if d, ok := ctx.Deadline(); ok {
		_ = pc.c.SetDeadline(d)
	}
}

// send writes one request frame.
func (pc *peerConn) send(hdr *messages.FrameHeader, payload ...[]byte) error {
	pc.reqID++
	hdr.RequestId = pc.reqID
	var err error
	pc.scratch, err = frame.Write(pc.c, pc.scratch, hdr, payload...)
	return err
}

// recv reads the reply to the last request into hdr; the payload, if any, is
// left to the caller. An OP_ERROR reply is returned as its error with the
// connection still usable (errPeerReply).
func (pc *peerConn) recv(hdr *messages.FrameHeader) error {
	if _, err := pc.r.Next(hdr); err != nil {
		return fmt.Errorf("%w: read reply: %w", ErrPeer, err)
	}
	if hdr.RequestId != pc.reqID {
		return fmt.Errorf("%w: reply to request %d, want %d", ErrPeer, hdr.RequestId, pc.reqID)
	}
	if hdr.Op == messages.Op_OP_ERROR {
		if err := pc.r.Discard(); err != nil {
			return err
		}
		return &replyError{errOfCode(hdr.ErrorCode, hdr.Error)}
	}
	if hdr.Op != messages.Op_OP_REPLY {
		return fmt.Errorf("%w: reply op %v", ErrPeer, hdr.Op)
	}
	return nil
}

// replyError is an error the peer answered with: the connection is still in
// step and may be reused.
type replyError struct{ err error }

func (e *replyError) Error() string { return e.err.Error() }
func (e *replyError) Unwrap() error { return e.err }

func (pc *peerConn) hello(ctx context.Context, self string, epoch uint64, token []byte) error {
	pc.deadline(ctx)
	hdr := &messages.FrameHeader{Op: messages.Op_OP_PEER_HELLO, NodeName: self, Epoch: epoch, AuthToken: token}
	if err := pc.send(hdr); err != nil {
		return fmt.Errorf("%w: hello: %w", ErrPeer, err)
	}
	var rep messages.FrameHeader
	if err := pc.recv(&rep); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	pc.peer = rep.NodeName
	return nil
}

// tokenOK compares tokens in constant time.
func tokenOK(want, got []byte) bool {
	if len(want) == 0 {
		return true
	}
	return subtle.ConstantTimeCompare(want, got) == 1
}

// call runs one request on a pooled connection to addr: send, then handle
// reads the reply (and its payload). The connection goes back to the pool
// unless the exchange broke it.
func (p *peerPool) call(ctx context.Context, addr string, req *messages.FrameHeader, payload []byte,
	handle func(pc *peerConn, rep *messages.FrameHeader) error) error {
	pc, err := p.get(ctx, addr)
	if err != nil {
		return err
	}
	pc.deadline(ctx)
	var rep messages.FrameHeader
	if payload != nil {
		err = pc.send(req, payload)
	} else {
		err = pc.send(req)
	}
	if err == nil {
		err = pc.recv(&rep)
		if err == nil && handle != nil {
			err = handle(pc, &rep)
		}
	}
	var re *replyError
	if err == nil || (errors.As(err, &re) && pc.r.Pending() == 0) {
		p.put(addr, pc)
	} else {
		_ = pc.c.Close()
	}
	return err
}

// fetch reads id from the peer at addr. alloc returns the buffer for n
// payload bytes (nil: a new slice).
func (p *peerPool) fetch(ctx context.Context, addr string, id artifact.ID, alloc func(n int) []byte) ([]byte, artifact.Meta, string, error) {
	var buf []byte
	var meta artifact.Meta
	var tier string
	req := &messages.FrameHeader{Op: messages.Op_OP_PEER_FETCH, Ids: []*messages.ArtifactID{messages.IDToProto(id)}}
	err := p.call(ctx, addr, req, nil, func(pc *peerConn, rep *messages.FrameHeader) error {
		m, err := messages.MetaFromProto(rep.Meta)
		if err != nil {
			return fmt.Errorf("%w: fetch reply: %w", ErrPeer, err)
		}
		n := pc.r.Pending()
		if n > p.lim.MaxPayloadBytes || int64(n) != m.Length {
			return fmt.Errorf("%w: fetch reply of %d bytes, meta says %d", ErrPeer, n, m.Length)
		}
		if alloc != nil {
			buf = alloc(int(n))
		} else {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		sum, err := readAndHash(pc.r, buf, p.verify)
		if err != nil {
			return err
		}
		if p.verify && sum != m.Checksum {
			return fmt.Errorf("%w: fetched payload fails its checksum", tiers.ErrCorrupt)
		}
		meta, tier = m, rep.Tier
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
	err := p.call(ctx, addr, req, payload, func(_ *peerConn, rep *messages.FrameHeader) error {
		tier = rep.Tier
		return nil
	})
	return tier, err
}

// stat asks the peer for id's metadata.
func (p *peerPool) stat(ctx context.Context, addr string, id artifact.ID) (artifact.Meta, error) {
	var meta artifact.Meta
	req := &messages.FrameHeader{Op: messages.Op_OP_PEER_STAT, Ids: []*messages.ArtifactID{messages.IDToProto(id)}}
	err := p.call(ctx, addr, req, nil, func(_ *peerConn, rep *messages.FrameHeader) error {
		m, err := messages.MetaFromProto(rep.Meta)
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
	err := p.call(ctx, addr, req, nil, func(_ *peerConn, rep *messages.FrameHeader) error {
		attrs = rep.Attrs
		return nil
	})
	return attrs, err
}

// dirSync fetches the peer's own directory entries as an encoded delta.
func (p *peerPool) dirSync(ctx context.Context, addr string) ([]byte, error) {
	var b []byte
	req := &messages.FrameHeader{Op: messages.Op_OP_PEER_DIR_SYNC}
	err := p.call(ctx, addr, req, nil, func(pc *peerConn, rep *messages.FrameHeader) error {
		b = make([]byte, pc.r.Pending())
		return pc.r.ReadPayload(b)
	})
	return b, err
}

const (
	opPeerDelete   = messages.Op_OP_PEER_DELETE
	opPeerPrefetch = messages.Op_OP_PEER_PREFETCH
)

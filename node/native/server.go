package native

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/node/internal/authtoken"
	"github.com/stratacache/stratacache/node/internal/connserver"
	"github.com/stratacache/stratacache/node/internal/inflight"
	"github.com/stratacache/stratacache/node/internal/keylock"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("native: server closed")

// ServerConfig configures a Server.
type ServerConfig struct {
	// Engine stores the artifacts; the server does not close it.
	Engine *actors.Engine
	// AuthToken, when set, must be presented in the HELLO frame. Token,
	// when set, is used instead: a holder shared with the node's other
	// ports whose value may change while the server runs.
	AuthToken string
	Token     *authtoken.Token
	// TLS, when set, wraps every accepted connection.
	TLS *tls.Config
	// MaxPayload, MaxRequest and MaxBatch bound a frame (DefaultLimits when
	// zero); MaxHeader is derived from MaxBatch.
	MaxPayload int64
	MaxRequest int64
	MaxBatch   int
	// MaxConns bounds concurrent connections. Default 1024.
	MaxConns int
	// IdleTimeout closes a connection that sends nothing between frames
	// for this long (default 5 minutes); ReadTimeout bounds each
	// connserver.Chunk of a payload that is arriving, WriteTimeout each
	// Chunk of replies the client must take (default 10 s each).
	IdleTimeout, ReadTimeout, WriteTimeout time.Duration
	// Logger receives connection-level errors; nil discards them.
	Logger *slog.Logger
	// Observe, when set, is called after every request with the op name and
	// duration; it must not block.
	Observe func(op string, d time.Duration)
	// Attrs are added to the HELLO reply (chunk size and the like).
	Attrs map[string]string
	// Locate answers OP_LOCATE: where an artifact's newest version lives in
	// the node's CXL pool (an error wrapping actors.ErrNotFound when the
	// pool does not hold it). nil: the node announces no pool and LOCATE
	// is unsupported. Called on the connection's goroutine; must not block.
	Locate func(id artifact.ID) (*messages.PoolLocation, error)
	// Members answers OP_MEMBERS with the cluster's members as this node
	// sees them; nil (a node that runs alone) answers with none. It is
	// called on the connection's goroutine and must not block.
	Members func() []*messages.MemberInfo
	// Budget bounds the payload bytes in flight (read and written) on this
	// node's connections, shared with the RESP port; nil: unbounded.
	Budget *inflight.Budget
	// EventLoops is the number of epoll event loops (Linux, no TLS) that
	// serve connections while their requests are small; a connection moves
	// to a goroutine of its own for a large value and stays there
	// (connserver's Session). 0: one, measured best on a 2-core machine
	// (docs/BENCHMARKS.md); negative: none, every connection on its own
	// goroutine (the node's listen.event_loop: false).
	EventLoops int
	// Locks are the per-key stripe locks every writer takes (PUT, MPUT,
	// DELETE), shared with the RESP port; nil: the server's own.
	Locks *keylock.Table
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	ConnsCurrent   int64
	ConnsTotal     int64
	ConnsRejected  int64
	Requests       int64
	Hits           int64
	Misses         int64
	ProtocolErrors int64
	AuthFailures   int64
	// AcceptErrors counts failed accepts (EMFILE and the like), Panics
	// connections closed by a recovered panic, WriteStalls clients cut off
	// for not reading their replies within the write timeout.
	AcceptErrors, Panics, WriteStalls int64
}

// Server serves the native protocol.
type Server struct {
	cfg ServerConfig
	lim Limits
	log *slog.Logger

	cs     *connserver.Server
	ctx    context.Context
	cancel context.CancelFunc

	requests, hits, misses       atomic.Int64
	protocolErrors, authFailures atomic.Int64
}

// NewServer validates cfg and returns a server that is not yet listening.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Engine == nil {
		return nil, errors.New("native: ServerConfig.Engine is nil")
	}
	lim := Limits{MaxPayload: cfg.MaxPayload, MaxRequest: cfg.MaxRequest, MaxBatch: cfg.MaxBatch}
	lim.ensureDefaults()
	// Room for MaxBatch ids of the longest key, their metadata, and slack.
	lim.MaxHeader = min(64<<10+lim.MaxBatch*(4096+128), 64<<20)
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 1024
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Token == nil {
		cfg.Token = authtoken.New(cfg.AuthToken)
	}
	if cfg.Locks == nil {
		cfg.Locks = new(keylock.Table)
	}
	s := &Server{cfg: cfg, lim: lim, log: log}
	s.cs = connserver.New(connserver.Config{
		MaxConns:     cfg.MaxConns,
		IdleTimeout:  cfg.IdleTimeout,
		ReadTimeout:  cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout,
		Logger:       log,
		TLS:          cfg.TLS,
		Reject: func(nc net.Conn) {
			if b, err := AppendFrameHead(nil, errorHeader(0, CodeBusy, "max number of connections reached"), 0); err == nil {
				_, _ = nc.Write(b)
			}
		},
		ErrClosed: ErrServerClosed,
		OnClose:   func() { s.cancel() },
		Open:      func(nc *connserver.Conn) connserver.Session { return s.open(nc) },
		Loops:     loops(cfg.EventLoops),
	})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Limits are the frame limits in force.
func (s *Server) Limits() Limits { return s.lim }

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		ConnsCurrent:   s.cs.Current.Load(),
		ConnsTotal:     s.cs.Total.Load(),
		ConnsRejected:  s.cs.Rejected.Load(),
		Requests:       s.requests.Load(),
		Hits:           s.hits.Load(),
		Misses:         s.misses.Load(),
		ProtocolErrors: s.protocolErrors.Load(),
		AuthFailures:   s.authFailures.Load(),
		AcceptErrors:   s.cs.AcceptErrors.Load(),
		Panics:         s.cs.Panics.Load(),
		WriteStalls:    s.cs.WriteStall.Load(),
	}
}

// Serve accepts connections on ln until Shutdown or Close, then returns
// ErrServerClosed. Other accept errors are returned as they are.
func (s *Server) Serve(ln net.Listener) error { return s.cs.Serve(ln) }

// Shutdown stops accepting, lets every connection finish the request it is
// executing and flush its replies, then closes it (connserver.Shutdown);
// if ctx ends first the rest are closed forcibly and ctx's error returned.
func (s *Server) Shutdown(ctx context.Context) error { return s.cs.Shutdown(ctx) }

// Close closes the listeners and every connection at once. Safe to call
// twice.
func (s *Server) Close() error {
	s.cs.Close()
	return nil
}

// conn is one client connection, served by one goroutine: requests are
// handled in order, replies buffered and flushed when no further request is
// already waiting (pipelining).
type conn struct {
	s      *Server
	nc     *connserver.Conn
	br     *bufio.Reader
	fr     *FrameReader
	out    []byte
	vec    [][]byte
	hello  bool
	closed bool
	// getReply and getMeta are onGet's reply header, reused.
	getReply messages.FrameHeader
	getMeta  messages.Metadata
}

// preAuthBuffer and readBuffer are a connection's read buffer before and
// after HELLO.
const (
	preAuthBuffer = 4 << 10
	readBuffer    = 64 << 10
)

// authenticated lifts the pre-HELLO limits: full frame limits and a full
// read buffer that keeps what the small one holds (pipelined requests).
func (c *conn) authenticated() {
	c.hello = true
	c.fr.preAuth = false
	var rest io.Reader = c.nc
	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(n)
		rest = io.MultiReader(bytes.NewReader(b), c.nc)
	}
	c.br = bufio.NewReaderSize(rest, readBuffer)
	c.fr.reset(c.br)
}

// flushAt is the buffered reply size at which a connection sends its
// replies without waiting for the end of a pipelined batch.
const flushAt = 256 << 10

// maxKeptOut is the reply buffer a connection keeps between flushes.
const maxKeptOut = 1 << 20

// open sets a connection up: a small read buffer until HELLO (the
// connection may be anyone's).
func (s *Server) open(nc *connserver.Conn) *conn {
	c := &conn{s: s, nc: nc}
	c.br = bufio.NewReaderSize(c.nc, preAuthBuffer)
	c.fr = NewFrameReader(c.br, s.lim)
	c.fr.setReadFull(c.nc.ReadFull)
	c.fr.preAuth = true
	return c
}

// Serve reads and executes frames until the client leaves, errs, idles
// out or the server shuts down, on the connection's own goroutine (from
// the start, or from where Step left it). Whatever ends it, the replies
// of the requests it executed are flushed before it returns (the deferred
// flush).
func (c *conn) Serve() {
	defer func() { _ = c.flush() }()
	for !c.closed {
		if c.br.Buffered() == 0 {
			if err := c.flush(); err != nil {
				return
			}
			c.nc.ArmIdle() // before the Closing check: see resp's serve
			if c.nc.Closing() {
				return
			}
		}
		if !c.serveOne() {
			return
		}
	}
}

// Step serves, on an event loop, the frames that are whole in the read
// buffer after one read from the socket, and flushes their replies. A
// frame larger than the buffer (a large value streams into tier memory
// on the connection's goroutine), one the prefix check refuses (the
// goroutine answers it), and the end of the connection detach it.
func (c *conn) Step() connserver.Next {
	// One read: whatever the socket holds, up to the free buffer.
	if _, err := c.br.Peek(c.br.Buffered() + 1); err != nil && !errors.Is(err, connserver.ErrWouldBlock) &&
		!errors.Is(err, bufio.ErrBufferFull) {
		return connserver.Detach // EOF or a broken connection: Serve ends it
	}
	for !c.closed {
		need, ok := c.nextFrameLen()
		if !ok || need > uint64(c.br.Size()) {
			break
		}
		if uint64(c.br.Buffered()) < need {
			// The rest may be in the socket already, or behind the buffer
			// (the reader that kept what came with HELLO).
			if _, err := c.br.Peek(int(need)); err != nil {
				if c.headRefused() {
					break // answered now, not once a payload that may never come arrived
				}
				if errors.Is(err, connserver.ErrWouldBlock) {
					if c.flush() != nil {
						return connserver.Detach
					}
					return connserver.Wait
				}
				break
			}
			// Measure again: need was only the prefix's length while the
			// prefix was not whole, and the frame behind it may be larger
			// than what the buffer holds now (or than the buffer). Serving
			// it here read its header or payload past the buffer: the loop's
			// read found nothing (ErrWouldBlock) and the connection closed
			// with no reply (issue 16, TestLoopHandoff).
			continue
		}
		if !c.serveOne() {
			c.closed = true
			break
		}
	}
	if c.closed || c.flush() != nil {
		return connserver.Detach
	}
	if c.br.Buffered() == 0 {
		return connserver.Wait
	}
	return connserver.Detach
}

// nextFrameLen is the length of the frame that starts the read buffer
// (PrefixSize while the prefix itself is not whole); ok is false for a
// prefix the frame reader will refuse.
func (c *conn) nextFrameLen() (uint64, bool) {
	if c.br.Buffered() < PrefixSize {
		return PrefixSize, true
	}
	b, _ := c.br.Peek(PrefixSize)
	p, err := ParsePrefix(b, c.s.lim)
	if err != nil {
		return 0, false
	}
	return PrefixSize + uint64(p.HeaderLen) + p.PayloadLen, true
}

// headRefused reports whether the frame that starts the read buffer, whose
// prefix and header are buffered but not all of its payload, has a header
// the frame reader refuses (checked on a copy; nothing is consumed).
func (c *conn) headRefused() bool {
	b, _ := c.br.Peek(c.br.Buffered())
	if len(b) < PrefixSize {
		return false
	}
	p, err := ParsePrefix(b, c.s.lim)
	if err != nil {
		return true
	}
	if end := PrefixSize + uint64(p.HeaderLen); uint64(len(b)) >= end {
		fr := NewFrameReader(bytes.NewReader(b[:end]), c.s.lim)
		fr.preAuth = c.fr.preAuth
		_, err := fr.Next()
		return err != nil
	}
	return false
}

// serveOne reads and executes one frame; false ends the connection.
func (c *conn) serveOne() bool {
	s := c.s
	p, err := c.fr.Next()
	if err != nil {
		if errors.Is(err, ErrBadMagic) || errors.Is(err, ErrBadVersion) ||
			errors.Is(err, ErrTooLarge) || errors.Is(err, ErrMalformed) {
			s.protocolErrors.Add(1)
			c.replyError(c.fr.Header.GetRequestId(), codeOf(err), err.Error())
			// The client hears why (the reply outlives the close, see
			// connserver's lingering close); the operator does too.
			s.log.Info("native: refused a frame; closing the connection", "remote", c.nc.RemoteAddr(),
				"code", codeOf(err), "err", err)
		} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("native: connection closed", "remote", c.nc.RemoteAddr(), "err", err)
		}
		return false
	}
	start := time.Now()
	op := c.fr.Header.GetOp()
	if err := c.handle(p); err != nil {
		if errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) {
			s.protocolErrors.Add(1)
		}
		return false
	}
	s.requests.Add(1)
	// Bound the replies a pipelining client makes the node hold.
	if len(c.out) >= flushAt {
		if err := c.flush(); err != nil {
			return false
		}
	}
	if s.cfg.Observe != nil {
		s.cfg.Observe(opName(op), time.Since(start))
	}
	return true
}

func opName(op messages.Op) string {
	if n, ok := messages.Op_name[int32(op)]; ok && len(n) > 3 {
		return n[3:] // "OP_GET" -> "GET"
	}
	return "UNKNOWN"
}

// flush writes the buffered replies.
func (c *conn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	_, err := c.nc.Write(c.out)
	c.resetOut()
	return err
}

func (c *conn) resetOut() {
	if cap(c.out) > maxKeptOut {
		c.out = nil
	}
	c.out = c.out[:0]
}

// SetMaxConns changes the connection cap for connections accepted from
// now on (CONFIG SET maxclients).
func (s *Server) SetMaxConns(n int) { s.cs.SetMaxConns(n) }

// SetIdleTimeout changes the idle timeout; connections pick it up when
// they next wait for a request (CONFIG SET timeout).
func (s *Server) SetIdleTimeout(d time.Duration) { s.cs.SetTimeouts(d, 0, 0) }

// MaxConns is the connection cap in force.
func (s *Server) MaxConns() int { return s.cs.MaxConns() }

// IdleTimeout is the idle timeout in force.
func (s *Server) IdleTimeout() time.Duration {
	idle, _, _ := s.cs.Timeouts()
	return idle
}

// EventLoops is the number of event loops the port serves small requests
// on (Linux, without TLS): EventLoops of the config as resolved.
func (s *Server) EventLoops() int { return s.cs.Loops() }

// loops is the event loop count for EventLoops.
func loops(n int) int {
	if n == 0 {
		return 1
	}
	return max(n, 0)
}

package resp

import (
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
	"github.com/stratacache/stratacache/node/internal/authtoken"
	"github.com/stratacache/stratacache/node/internal/connserver"
	"github.com/stratacache/stratacache/node/internal/inflight"
	"github.com/stratacache/stratacache/node/internal/keylock"
)

// busyReply answers a request refused by the in-flight budget.
const busyReply = "BUSY too many bytes in flight on this node (limits.max_inflight_mb); retry later"

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("resp: server closed")

// Config configures a Server.
type Config struct {
	// Engine stores the values; the server does not close it.
	Engine *actors.Engine
	// AuthToken, when set, must be presented with AUTH before any other
	// command (Redis's requirepass). Token, when set, is used instead: a
	// holder shared with the node's other ports that CONFIG SET
	// requirepass changes live.
	AuthToken string
	Token     *authtoken.Token
	// TLS, when set, wraps every accepted connection.
	TLS *tls.Config
	// Limits bound one command; DefaultLimits when zero.
	Limits Limits
	// MaxConns bounds concurrent connections; more are refused with an
	// error reply. Default 1024.
	MaxConns int
	// IdleTimeout closes a connection that sends nothing between commands
	// for this long (default 5 minutes); ReadTimeout bounds each
	// connserver.Chunk of a value that is arriving, WriteTimeout each Chunk
	// of replies the client must take (default 10 s each): a client that
	// stops reading its replies is disconnected.
	IdleTimeout, ReadTimeout, WriteTimeout time.Duration
	// Logger receives connection-level errors; nil discards them.
	Logger *slog.Logger
	// Observe, when set, is called after every command with its upper-case
	// name and duration. It runs on the connection's goroutine and must not
	// block.
	Observe func(cmd string, d time.Duration)
	// Info, when set, appends extra "key:value" lines for INFO's
	// stratacache section. It must not block.
	Info func(b *bytes.Buffer)
	// Budget bounds the value bytes in flight (read and written) on this
	// node's connections, shared with the native port; nil: unbounded.
	Budget *inflight.Budget
	// Locks are the per-key stripe locks every writer takes, shared with
	// the native port; nil: the server's own.
	Locks *keylock.Table
	// Params replace or add CONFIG GET/SET parameters (see Param): a node
	// passes those whose change must reach its other ports too.
	Params []Param
	// EventLoops is the number of epoll event loops (Linux, no TLS) that
	// serve connections while their requests are small; a connection moves
	// to a goroutine of its own for a large value and stays there
	// (connserver's Session). 0: one, measured best on a 2-core machine
	// (docs/BENCHMARKS.md); negative: none, every connection on its own
	// goroutine (the node's listen.event_loop: false).
	EventLoops int
	// Policy is the CPU tier's eviction policy as Redis names it
	// (maxmemory-policy in CONFIG GET and INFO); "" reads allkeys-lru.
	Policy string
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	ConnsCurrent   int64
	ConnsTotal     int64
	ConnsRejected  int64
	Commands       int64
	Hits           int64
	Misses         int64
	ProtocolErrors int64
	AuthFailures   int64
	// AcceptErrors counts failed accepts (EMFILE and the like), Panics
	// connections closed by a recovered panic, WriteStalls clients cut off
	// for not reading their replies within the write timeout.
	AcceptErrors, Panics, WriteStalls int64
}

// Server serves RESP2 on any number of listeners.
type Server struct {
	cfg   Config
	log   *slog.Logger
	token *authtoken.Token
	keys  keyspace
	// locks serialise every writer of a key (shared with the native port
	// through Config.Locks); reads take none.
	locks   *keylock.Table
	started time.Time

	cs     *connserver.Server
	ctx    context.Context
	cancel context.CancelFunc

	commands, hits, misses       atomic.Int64
	protocolErrors, authFailures atomic.Int64
	nextID                       atomic.Int64
}

// New validates cfg and returns a server that is not yet listening.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil {
		return nil, errors.New("resp: Config.Engine is nil")
	}
	d := DefaultLimits()
	if cfg.Limits.MaxBulk <= 0 {
		cfg.Limits.MaxBulk = d.MaxBulk
	}
	if cfg.Limits.MaxRequest <= 0 {
		cfg.Limits.MaxRequest = max(d.MaxRequest, cfg.Limits.MaxBulk)
	}
	if cfg.Limits.MaxArgs <= 0 {
		cfg.Limits.MaxArgs = d.MaxArgs
	}
	if cfg.Limits.MaxInline <= 0 {
		cfg.Limits.MaxInline = d.MaxInline
	}
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
	s := &Server{cfg: cfg, log: log, started: time.Now(), token: cfg.Token, locks: cfg.Locks}
	s.cs = connserver.New(connserver.Config{
		MaxConns:     cfg.MaxConns,
		IdleTimeout:  cfg.IdleTimeout,
		ReadTimeout:  cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout,
		TLS:          cfg.TLS,
		Reject:       func(nc net.Conn) { _, _ = io.WriteString(nc, "-ERR max number of clients reached\r\n") },
		ErrClosed:    ErrServerClosed,
		OnClose:      func() { s.cancel() },
		Logger:       log,
		Open: func(nc *connserver.Conn) connserver.Session {
			return s.open(&conn{s: s, nc: nc, cid: s.nextID.Add(1), authed: !s.token.Required()})
		},
		Loops: loops(cfg.EventLoops),
	})
	s.keys.init(func(key []byte) bool {
		id, err := artifact.NewID(artifact.NamespaceBlob, key)
		if err != nil {
			return false
		}
		ok, err := cfg.Engine.Contains(context.Background(), id, actors.Chain())
		return err == nil && ok
	})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		ConnsCurrent:   s.cs.Current.Load(),
		ConnsTotal:     s.cs.Total.Load(),
		ConnsRejected:  s.cs.Rejected.Load(),
		Commands:       s.commands.Load(),
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

// conn is one client connection, served by one goroutine.
type conn struct {
	s      *Server
	nc     *connserver.Conn
	cid    int64
	r      *Reader
	w      *Writer
	authed bool
	name   string
	quit   bool
	// tx is the MULTI queue; nil outside a transaction.
	tx *transaction
	// streamStart is when the last streamed SET began (its latency).
	streamStart time.Time
}

// open sets a connection up.
func (s *Server) open(c *conn) *conn {
	if c.authed {
		c.r = NewReader(c.nc, s.cfg.Limits)
	} else {
		c.r = NewPreAuthReader(c.nc, s.cfg.Limits)
	}
	if b := s.cfg.Budget; b != nil {
		c.r.Acquire = func(n int64) error { return b.Acquire(s.ctx, n) }
		c.r.Release = b.Release
	}
	c.r.StreamSet = c.streamSet
	c.r.ReadFull = c.nc.ReadFull
	c.w = NewWriter(c.nc)
	return c
}

// Serve reads and executes commands until the client leaves, errs, idles
// out, quits or the server shuts down, on the connection's own goroutine
// (from the start, or from where Step left it). Whatever ends it, the
// replies of the commands it executed are flushed before it returns (the
// deferred Flush): an applied command's reply is never thrown away by the
// server.
func (c *conn) Serve() {
	defer c.releaseTx()
	defer c.r.Close()
	defer func() { _ = c.w.Flush() }()
	for !c.quit {
		if c.r.Buffered() == 0 {
			// End of a pipelined batch: send the replies, then wait. The
			// deadline is armed before Closing is checked, so Shutdown's
			// immediate deadline is never overwritten unseen.
			if err := c.w.Flush(); err != nil {
				return
			}
			c.nc.ArmIdle()
			if c.nc.Closing() {
				return
			}
		}
		if !c.serveOne() {
			return
		}
	}
}

// Step serves, on an event loop, the commands that are whole in the read
// buffer after one read from the socket, and flushes their replies. A
// command with a large argument (it may stream into tier memory or wait
// for the in-flight budget), one the framing check does not recognise
// (ReadCommand answers it) and the end of the connection detach it.
func (c *conn) Step() connserver.Next {
	if err := c.r.fill(); err != nil && !errors.Is(err, connserver.ErrWouldBlock) {
		return connserver.Detach // EOF or a broken connection: Serve ends it
	}
	for !c.quit {
		need, whole, ok := c.r.nextCommand(loopMaxBulk)
		if !ok || need > c.r.size() {
			break
		}
		if !whole {
			if err := c.r.peek(need); err != nil {
				if errors.Is(err, connserver.ErrWouldBlock) && c.w.Flush() == nil {
					return connserver.Wait
				}
				break
			}
			continue
		}
		if !c.serveOne() {
			c.quit = true
			break
		}
	}
	if c.quit || c.w.Flush() != nil || c.r.Buffered() > 0 {
		return connserver.Detach
	}
	return connserver.Wait
}

// serveOne reads and executes one command; false ends the connection.
func (c *conn) serveOne() bool {
	s := c.s
	args, err := c.r.ReadCommand()
	if errors.Is(err, ErrBusy) {
		// The command was skipped whole: answer and go on.
		c.w.Error(busyReply)
		s.commands.Add(1)
		return true
	}
	if err != nil {
		if errors.Is(err, ErrProtocol) {
			s.protocolErrors.Add(1)
			c.w.Error("ERR " + err.Error())
		} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
			s.log.Debug("resp: connection closed", "remote", c.nc.RemoteAddr(), "err", err)
		}
		return false
	}
	start := time.Now()
	var name string
	if ok, err := c.r.Streamed(); ok {
		start = c.streamStart
		name = c.streamedSet(args[1], err)
	} else {
		name = c.dispatch(args)
	}
	c.r.Done()
	s.commands.Add(1)
	if s.cfg.Observe != nil && name != "" {
		s.cfg.Observe(name, time.Since(start))
	}
	return c.w.Err() == nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
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

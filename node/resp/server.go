package resp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/node/internal/connserver"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("resp: server closed")

// Config configures a Server.
type Config struct {
	// Engine stores the values; the server does not close it.
	Engine *actors.Engine
	// AuthToken, when set, must be presented with AUTH before any other
	// command (Redis's requirepass).
	AuthToken string
	// TLS, when set, wraps every accepted connection.
	TLS *tls.Config
	// Limits bound one command; DefaultLimits when zero.
	Limits Limits
	// MaxConns bounds concurrent connections; more are refused with an
	// error reply. Default 1024.
	MaxConns int
	// IdleTimeout closes a connection that sends nothing for this long; a
	// command must also arrive completely within it (slow clients).
	// Default 5 minutes.
	IdleTimeout time.Duration
	// Logger receives connection-level errors; nil discards them.
	Logger *slog.Logger
	// Observe, when set, is called after every command with its upper-case
	// name and duration. It runs on the connection's goroutine and must not
	// block.
	Observe func(cmd string, d time.Duration)
	// Info, when set, appends extra "key:value" lines for INFO's
	// stratacache section. It must not block.
	Info func(b *bytes.Buffer)
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
}

// Server serves RESP2 on any number of listeners.
type Server struct {
	cfg  Config
	log  *slog.Logger
	keys keyspace
	// stripes serialise the read-modify-write commands (SET NX/XX/GET,
	// EXPIRE) per key hash; plain SET and GET never take them.
	stripes [256]sync.Mutex
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
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, started: time.Now()}
	s.cs = connserver.New(connserver.Config{
		MaxConns:  cfg.MaxConns,
		TLS:       cfg.TLS,
		Reject:    func(nc net.Conn) { _, _ = io.WriteString(nc, "-ERR max number of clients reached\r\n") },
		ErrClosed: ErrServerClosed,
		OnClose:   func() { s.cancel() },
		Handle: func(nc net.Conn) {
			(&conn{s: s, nc: nc, cid: s.nextID.Add(1), authed: cfg.AuthToken == ""}).serve()
		},
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
	nc     net.Conn
	cid    int64
	r      *Reader
	w      *Writer
	authed bool
	name   string
	quit   bool
	// deadlineSet is when the read deadline was last moved.
	deadlineSet time.Time
	// tx is the MULTI queue; nil outside a transaction.
	tx *transaction
	// streamStart is when the last streamed SET began (its latency).
	streamStart time.Time
}

func (c *conn) serve() {
	s := c.s
	defer c.nc.Close()
	c.r = NewReader(c.nc, s.cfg.Limits)
	c.r.StreamSet = c.streamSet
	defer c.r.Close()
	c.w = NewWriter(c.nc)
	for !c.quit {
		if c.r.Buffered() == 0 {
			// End of a pipelined batch: send the replies, then wait.
			if err := c.w.Flush(); err != nil {
				return
			}
			c.extendDeadline(s.cfg.IdleTimeout)
			if s.cs.Closing() {
				return
			}
		}
		args, err := c.r.ReadCommand()
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				s.protocolErrors.Add(1)
				c.w.Error("ERR " + err.Error())
				_ = c.w.Flush()
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
				s.log.Debug("resp: connection closed", "remote", c.nc.RemoteAddr(), "err", err)
			}
			return
		}
		start := time.Now()
		var name string
		if ok, err := c.r.Streamed(); ok {
			start = c.streamStart
			name = c.streamedSet(args[1], err)
		} else {
			name = c.dispatch(args)
		}
		s.commands.Add(1)
		if s.cfg.Observe != nil && name != "" {
			s.cfg.Observe(name, time.Since(start))
		}
		if c.w.Err() != nil {
			return
		}
	}
	_ = c.w.Flush()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// extendDeadline moves the read deadline to idle from now, but only when an
// eighth of idle has passed since it was last moved: re-arming the runtime
// timer on every request costs more than the request on a busy small-value
// workload, and a deadline between 7/8 and 8/8 of idle away is as good.
// Shutdown's immediate deadline is never lost: the caller checks closing
// after this call.
func (c *conn) extendDeadline(idle time.Duration) {
	now := time.Now()
	if now.Sub(c.deadlineSet) < idle/8 {
		return
	}
	c.deadlineSet = now
	_ = c.nc.SetReadDeadline(now.Add(idle))
}

package connserver

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Serve after Shutdown or Close.
var ErrClosed = errors.New("connserver: closed")

// Defaults of the timeouts a Config leaves zero.
const (
	DefaultIdleTimeout  = 5 * time.Minute
	DefaultReadTimeout  = 10 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	// ShutdownWriteGrace is the write deadline a connection gets once
	// shutdown has begun: a client must take each Chunk of its replies
	// within it, so a reader that stalled cannot hold the drain.
	ShutdownWriteGrace = time.Second
	// LingerTimeout bounds how long a closing connection keeps reading
	// (and discarding) what the client still sends after the server's FIN,
	// so that closing with unread input does not reset the connection and
	// destroy replies the client has not read yet.
	LingerTimeout = 2 * time.Second
	// lingerMax bounds the bytes discarded while lingering.
	lingerMax = 64 << 20
	// maxAcceptDelay caps the backoff between failing accepts.
	maxAcceptDelay = time.Second
)

// Config is what a protocol server supplies.
type Config struct {
	// MaxConns caps open connections; past it Reject answers and the
	// connection is closed. Must be positive. SetMaxConns changes it live.
	MaxConns int
	// IdleTimeout closes a connection that sends nothing between requests
	// for this long; ReadTimeout bounds each Chunk of a value that is
	// arriving; WriteTimeout bounds each Chunk of replies the client must
	// take. Zero: the defaults above. SetTimeouts changes them live.
	IdleTimeout, ReadTimeout, WriteTimeout time.Duration
	// TLS, when set, wraps every accepted connection.
	TLS *tls.Config
	// Reject writes the protocol's refusal to a connection over the cap
	// (a write deadline of one second is set). May be nil.
	Reject func(nc net.Conn)
	// Open, when set, is used instead of Handle: it returns the
	// connection's Session. With Loops > 0 (Linux, TCP without TLS) a
	// connection then starts on one of Loops event loops, which call its
	// Step while its requests are small, and moves to its own goroutine
	// (Serve) for the rest of its life when Step asks for it, when the
	// replies do not fit in the socket, or when it ends (see loop_linux.go).
	Open  func(c *Conn) Session
	Loops int
	// Handle serves one connection until it ends, on the connection's own
	// goroutine. It should stop reading once Closing reports true, and
	// flush the replies of every request it executed before it returns;
	// the server then closes the connection (lingering, see LingerTimeout).
	// A panic in Handle is recovered, logged with its stack and counted;
	// it closes that connection only.
	Handle func(c *Conn)
	// ErrClosed is what Serve returns after Shutdown or Close (the
	// protocol's own sentinel); nil means this package's ErrClosed.
	ErrClosed error
	// OnClose runs once the connections are gone (after Shutdown's wait,
	// or in Close): the protocol cancels its request contexts there.
	OnClose func()
	// Logger receives accept errors and recovered panics; nil discards.
	Logger *slog.Logger
}

// Session is a protocol's state of one connection (Config.Open).
type Session interface {
	// Step runs on an event loop when the connection has input: it reads
	// once (Read returns ErrWouldBlock when nothing more is there),
	// executes every request that is whole in its buffer, writes their
	// replies, and returns Wait to be called again on the next input, or
	// Detach to go on in Serve on a goroutine of its own: a request that
	// is large or not whole after the read, or one that might block (the
	// loop serves every other connection of the loop only between Steps),
	// or the connection's end. It must not wait for input.
	Step() Next
	// Serve serves the connection on its own goroutine until it ends,
	// carrying on from where Step left it; Handle's contract.
	Serve()
}

// Next is what Step asks for.
type Next int

const (
	Wait   Next = iota // stay on the loop
	Detach             // go on in Serve on a goroutine
)

// Server tracks listeners and connections. Its counters are exported for
// the protocol's Stats.
type Server struct {
	cfg Config
	log *slog.Logger

	maxConns                         atomic.Int64
	idleNs, readNs, writeNs          atomic.Int64
	mu                               sync.Mutex
	listeners                        map[net.Listener]struct{}
	conns                            map[*Conn]struct{}
	closing                          atomic.Bool
	wg                               sync.WaitGroup
	Current, Total, Rejected         atomic.Int64
	AcceptErrors, Panics, WriteStall atomic.Int64

	loopOnce sync.Once
	loops    []*loop
	loopWG   sync.WaitGroup
	nextLoop atomic.Uint32
}

// New returns a server that is not yet listening.
func New(cfg Config) *Server {
	if cfg.ErrClosed == nil {
		cfg.ErrClosed = ErrClosed
	}
	if cfg.Open != nil && cfg.Handle == nil {
		open := cfg.Open
		cfg.Handle = func(c *Conn) { open(c).Serve() }
	}
	if cfg.OnClose == nil {
		cfg.OnClose = func() {}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, listeners: map[net.Listener]struct{}{}, conns: map[*Conn]struct{}{}}
	s.SetMaxConns(cfg.MaxConns)
	s.SetTimeouts(cfg.IdleTimeout, cfg.ReadTimeout, cfg.WriteTimeout)
	return s
}

// SetMaxConns changes the connection cap (for connections accepted from
// now on); n <= 0 is ignored.
func (s *Server) SetMaxConns(n int) {
	if n > 0 {
		s.maxConns.Store(int64(n))
	}
}

// Loops is the number of event loops configured (Config.Loops, or 0 when
// Open is nil); they start with the first connection that can use them.
func (s *Server) Loops() int {
	if s.cfg.Open == nil {
		return 0
	}
	return max(s.cfg.Loops, 0)
}

// MaxConns is the connection cap in force.
func (s *Server) MaxConns() int { return int(s.maxConns.Load()) }

// SetTimeouts changes the idle, read and write timeouts (zero: leave as
// is, or the default when none was set); connections pick them up at their
// next arming.
func (s *Server) SetTimeouts(idle, read, write time.Duration) {
	set := func(v *atomic.Int64, d, def time.Duration) {
		switch {
		case d > 0:
			v.Store(int64(d))
		case v.Load() == 0:
			v.Store(int64(def))
		}
	}
	set(&s.idleNs, idle, DefaultIdleTimeout)
	set(&s.readNs, read, DefaultReadTimeout)
	set(&s.writeNs, write, DefaultWriteTimeout)
}

// Timeouts returns the idle, read and write timeouts in force.
func (s *Server) Timeouts() (idle, read, write time.Duration) {
	return time.Duration(s.idleNs.Load()), time.Duration(s.readNs.Load()), time.Duration(s.writeNs.Load())
}

// Closing reports whether Shutdown or Close has begun.
func (s *Server) Closing() bool { return s.closing.Load() }

// Serve accepts connections on ln until Shutdown or Close, then returns
// Config.ErrClosed. A failing accept (EMFILE, ENFILE, ENOMEM, a connection
// aborted before it was accepted) never stops the server: it backs off,
// 5 ms doubling up to 1 s, logs once per burst and counts AcceptErrors.
// Only a listener closed by someone else ends Serve with its error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		_ = ln.Close()
		return s.cfg.ErrClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	var delay time.Duration
	var burst int64
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return s.cfg.ErrClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			s.AcceptErrors.Add(1)
			if burst == 0 {
				s.log.Warn("accept failing; backing off and retrying", "listener", ln.Addr(), "err", err)
			}
			burst++
			delay = min(max(2*delay, 5*time.Millisecond), maxAcceptDelay)
			time.Sleep(delay) // back off: the condition (fd limit) clears only as connections close
			continue
		}
		if burst > 0 {
			s.log.Info("accepting again", "listener", ln.Addr(), "failed_accepts", burst)
		}
		delay, burst = 0, 0
		s.start(nc)
	}
}

func (s *Server) start(nc net.Conn) {
	if s.Current.Add(1) > s.maxConns.Load() {
		s.Current.Add(-1)
		s.Rejected.Add(1)
		if s.cfg.Reject != nil {
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			s.cfg.Reject(nc)
		}
		lingerClose(nc)
		return
	}
	s.Total.Add(1)
	if s.cfg.TLS != nil {
		nc = tls.Server(nc, s.cfg.TLS)
	}
	c := &Conn{Conn: nc, s: s}
	var fc *fdConn
	if s.cfg.Open != nil && s.cfg.Loops > 0 && s.cfg.TLS == nil {
		if f, ok := s.adopt(nc); ok {
			fc = f
			c.Conn = f
		}
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		s.Current.Add(-1)
		if fc != nil {
			fc.closeFd() // adopt closed nc already
			return
		}
		_ = nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	if fc != nil {
		s.enqueue(c, fc, s.cfg.Open(c))
		return
	}
	go s.run(c, func() { s.cfg.Handle(c) })
}

// run serves one connection with serve, recovering a panic of the handler
// so that it closes this connection only.
func (s *Server) run(c *Conn, serve func()) {
	defer func() {
		if r := recover(); r != nil {
			s.Panics.Add(1)
			s.log.Error("panic serving a connection; closing it", "remote", c.RemoteAddr(), "panic", r,
				"stack", string(debug.Stack()))
		}
		if c.writeFailed {
			_ = c.Conn.Close()
		} else {
			lingerClose(c.Conn)
		}
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.Current.Add(-1)
		s.wg.Done()
	}()
	serve()
}

// lingerClose half-closes nc (the client reads every reply, then EOF) and
// closes it once the client has acknowledged everything sent, reading and
// discarding what the client still sends meanwhile, for at most
// LingerTimeout and lingerMax bytes. Closing a TCP socket with unread input
// sends a reset instead of a FIN, and the reset discards replies not yet
// delivered; once they are acknowledged they sit in the client's receive
// queue, which a reset does not take away.
func lingerClose(nc net.Conn) {
	type closeWriter interface{ CloseWrite() error }
	cw, ok := nc.(closeWriter)
	if !ok || cw.CloseWrite() != nil {
		_ = nc.Close()
		return
	}
	deadline := time.Now().Add(LingerTimeout)
	var buf []byte
	for n := 0; n < lingerMax; {
		pending, known := unacked(nc)
		if known && pending == 0 {
			break
		}
		now := time.Now()
		if !now.Before(deadline) {
			break
		}
		wait := deadline
		if poll := now.Add(5 * time.Millisecond); known && poll.Before(deadline) {
			wait = poll // poll the send queue while draining input
		}
		_ = nc.SetReadDeadline(wait)
		if buf == nil {
			buf = make([]byte, 4<<10)
		}
		k, err := nc.Read(buf)
		n += k
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			break // EOF: the client closed; or the connection broke
		}
	}
	_ = nc.Close()
}

// Shutdown stops accepting and wakes every connection blocked reading its
// next request (a read deadline of now) and shortens every pending reply
// write to ShutdownWriteGrace; a connection executing a request finishes
// it, flushes its replies and sees Closing before its next read. It then
// waits for all of them; if ctx ends first the rest are closed forcibly and
// ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for ln := range s.listeners {
		_ = ln.Close()
	}
	now := time.Now()
	for c := range s.conns {
		_ = c.Conn.SetReadDeadline(now)
		_ = c.Conn.SetWriteDeadline(now.Add(ShutdownWriteGrace))
	}
	s.mu.Unlock()
	s.loopOnce.Do(func() {}) // no loop starts from now on
	s.wakeLoops()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.loopWG.Wait() // woken above; a loop ends once it saw closing
		s.cfg.OnClose()
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close closes the listeners and every connection at once. Safe to call
// twice.
func (s *Server) Close() {
	s.mu.Lock()
	s.closing.Store(true)
	for ln := range s.listeners {
		_ = ln.Close()
	}
	for c := range s.conns {
		_ = c.Conn.Close()
	}
	s.mu.Unlock()
	s.loopOnce.Do(func() {})
	s.wakeLoops()
	s.cfg.OnClose()
}

package connserver

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Serve after Shutdown or Close.
var ErrClosed = errors.New("connserver: closed")

// Config is what a protocol server supplies.
type Config struct {
	// MaxConns caps open connections; past it Reject answers and the
	// connection is closed. Must be positive.
	MaxConns int
	// TLS, when set, wraps every accepted connection.
	TLS *tls.Config
	// Reject writes the protocol's refusal to a connection over the cap
	// (a write deadline of one second is set). May be nil.
	Reject func(nc net.Conn)
	// Handle serves one connection until it ends, on the connection's own
	// goroutine; the connection is closed by Handle or, after it returns,
	// by the server. Handle should stop reading once Closing reports true.
	Handle func(nc net.Conn)
	// ErrClosed is what Serve returns after Shutdown or Close (the
	// protocol's own sentinel); nil means this package's ErrClosed.
	ErrClosed error
	// OnClose runs once the connections are gone (after Shutdown's wait,
	// or in Close): the protocol cancels its request contexts there.
	OnClose func()
}

// Server tracks listeners and connections. Its counters are exported for
// the protocol's Stats.
type Server struct {
	cfg Config

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	closing   atomic.Bool
	wg        sync.WaitGroup

	Current, Total, Rejected atomic.Int64
}

// New returns a server that is not yet listening.
func New(cfg Config) *Server {
	if cfg.ErrClosed == nil {
		cfg.ErrClosed = ErrClosed
	}
	if cfg.OnClose == nil {
		cfg.OnClose = func() {}
	}
	return &Server{cfg: cfg, listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}
}

// Closing reports whether Shutdown or Close has begun.
func (s *Server) Closing() bool { return s.closing.Load() }

// Serve accepts connections on ln until Shutdown or Close, then returns
// Config.ErrClosed. Temporary accept errors (EMFILE) back off as net/http does;
// other accept errors are returned as they are.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		_ = ln.Close()
		return s.cfg.ErrClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	var tempDelay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return s.cfg.ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				time.Sleep(tempDelay) // back off accept errors, as net/http does
				continue
			}
			return err
		}
		tempDelay = 0
		s.start(nc)
	}
}

func (s *Server) start(nc net.Conn) {
	if s.Current.Add(1) > int64(s.cfg.MaxConns) {
		s.Current.Add(-1)
		s.Rejected.Add(1)
		if s.cfg.Reject != nil {
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			s.cfg.Reject(nc)
		}
		_ = nc.Close()
		return
	}
	s.Total.Add(1)
	if s.cfg.TLS != nil {
		nc = tls.Server(nc, s.cfg.TLS)
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		s.Current.Add(-1)
		_ = nc.Close()
		return
	}
	s.conns[nc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.cfg.Handle(nc)
		_ = nc.Close()
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
		s.Current.Add(-1)
	}()
}

// Shutdown stops accepting and wakes every connection blocked reading its
// next request (a read deadline of now); one executing a request finishes
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
	for nc := range s.conns {
		_ = nc.SetReadDeadline(now)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
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
	for nc := range s.conns {
		_ = nc.Close()
	}
	s.mu.Unlock()
	s.cfg.OnClose()
}

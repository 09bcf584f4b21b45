package connserver

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// An event loop serves the small requests of many connections from one
// goroutine: one epoll_wait reports every connection with input, and each
// gets one read, its complete requests executed from the buffer and one
// write of their replies. A goroutine per connection instead pays, per
// request, a read that finds nothing (EAGAIN), a park and a wake of the
// goroutine, and often a futex to wake a thread: on a 2-core machine that
// is about half of a 4 KiB request's CPU (docs/BENCHMARKS.md, issue 16).
//
// Anything that would block the loop moves the connection to a goroutine
// of its own for the rest of its life (Session.Serve), the path every
// connection took before: a request larger than the read buffer (a large
// value streams into tier memory there, with deadlines per chunk), replies
// the socket does not take at once, input the protocol's framing check does
// not recognise, the end of the connection (its lingering close), shutdown
// and the idle timeout.

// ErrWouldBlock is what a connection on an event loop returns from Read
// when the socket holds no more input: Step must then return Wait (or
// Detach) instead of reading on.
var ErrWouldBlock = errors.New("connserver: no input ready (event loop)")

// loopIdleTick is how often a loop looks for connections past the idle
// timeout (and its epoll_wait timeout).
const loopIdleTick = time.Second

// loopMaxPending is the most reply bytes a connection keeps on its loop
// when the socket does not take them at once (a pipelined batch of small
// replies to a client that reads slowly): the loop stops reading from it and
// writes them as the socket drains. More than that (a large value) moves the
// connection to its goroutine, which writes them with the write deadline.
const loopMaxPending = 256 << 10

// fdConn is the net.Conn of a connection on an event loop: its socket,
// read and written without blocking. Replies the socket does not take are
// kept in pending, and the loop then moves the connection to a goroutine
// that writes them first.
type fdConn struct {
	fd            int
	local, remote net.Addr
	pending       []byte
	failed        error
	// drained: a read in this Step returned less than it asked for, so the
	// socket held no more then; later reads in the Step report
	// ErrWouldBlock without a system call (what arrives since makes the
	// level-triggered epoll_wait report the connection again). The loop
	// clears it before each Step.
	drained bool
	iov     [64]unix.Iovec // writev's vector
}

func (f *fdConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if f.drained {
		return 0, ErrWouldBlock
	}
	for {
		n, err := rawRead(f.fd, p)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			f.drained = true
			return 0, ErrWouldBlock
		case err != nil:
			return 0, &net.OpError{Op: "read", Net: "tcp", Source: f.local, Addr: f.remote, Err: os.NewSyscallError("read", err)}
		case n == 0:
			return 0, io.EOF
		}
		f.drained = n < len(p)
		return n, nil
	}
}

func (f *fdConn) Write(b []byte) (int, error) {
	if f.failed != nil {
		return 0, f.failed
	}
	if len(f.pending) > 0 {
		f.pending = append(f.pending, b...)
		return len(b), nil
	}
	n := 0
	for n < len(b) {
		k, err := rawWrite(f.fd, b[n:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			f.pending = append(f.pending, b[n:]...)
			return len(b), nil
		case err != nil:
			f.failed = &net.OpError{Op: "write", Net: "tcp", Source: f.local, Addr: f.remote, Err: os.NewSyscallError("write", err)}
			return n, f.failed
		}
		n += k
	}
	return n, nil
}

// writev writes the pieces with as few writev calls as the socket takes;
// what it does not take goes to pending.
func (f *fdConn) writev(pieces [][]byte) error {
	if f.failed != nil {
		return f.failed
	}
	for len(pieces) > 0 && len(f.pending) == 0 {
		k, err := rawWritev(f.fd, pieces[:min(len(pieces), 64)], f.iov[:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			f.failed = &net.OpError{Op: "writev", Net: "tcp", Source: f.local, Addr: f.remote, Err: os.NewSyscallError("writev", err)}
			return f.failed
		}
		for k > 0 && len(pieces) > 0 {
			if k >= len(pieces[0]) {
				k -= len(pieces[0])
				pieces = pieces[1:]
				continue
			}
			pieces[0] = pieces[0][k:]
			k = 0
		}
		for len(pieces) > 0 && len(pieces[0]) == 0 {
			pieces = pieces[1:]
		}
	}
	for _, p := range pieces {
		f.pending = append(f.pending, p...)
	}
	return nil
}

// Close shuts the socket down; the loop notices (a hang-up) and ends the
// connection on its goroutine, where the descriptor is closed.
func (f *fdConn) Close() error                     { return unix.Shutdown(f.fd, unix.SHUT_RDWR) }
func (f *fdConn) closeFd()                         { _ = unix.Close(f.fd) }
func (f *fdConn) LocalAddr() net.Addr              { return f.local }
func (f *fdConn) RemoteAddr() net.Addr             { return f.remote }
func (f *fdConn) SetDeadline(time.Time) error      { return nil }
func (f *fdConn) SetReadDeadline(time.Time) error  { return nil }
func (f *fdConn) SetWriteDeadline(time.Time) error { return nil }

// closedConn stands for a connection whose descriptor could not be moved
// off its loop (and is closed): it keeps the addresses for the logs and
// refuses all I/O.
type closedConn struct{ fc *fdConn }

func (c closedConn) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (c closedConn) Write([]byte) (int, error)        { return 0, net.ErrClosed }
func (c closedConn) Close() error                     { return nil }
func (c closedConn) LocalAddr() net.Addr              { return c.fc.local }
func (c closedConn) RemoteAddr() net.Addr             { return c.fc.remote }
func (c closedConn) SetDeadline(time.Time) error      { return nil }
func (c closedConn) SetReadDeadline(time.Time) error  { return nil }
func (c closedConn) SetWriteDeadline(time.Time) error { return nil }

// loopConn is a connection while it is on a loop.
type loopConn struct {
	c    *Conn
	fc   *fdConn
	sess Session
	last time.Time
	// writing: the loop waits for the socket to take fc.pending (since
	// last) before it reads from the connection again.
	writing bool
}

type loop struct {
	s    *Server
	epfd int
	wake int // eventfd: Shutdown and Close
	mu   sync.Mutex
	fds  map[int32]*loopConn
	// dead: the loop has ended (its descriptors are closed); under mu.
	dead bool
}

// loops starts the server's event loops on first use.
func (s *Server) startLoops() []*loop {
	s.loopOnce.Do(func() {
		for range s.cfg.Loops {
			l, err := newLoop(s)
			if err != nil {
				s.log.Warn("event loop unavailable; serving connections on goroutines", "err", err)
				break
			}
			s.loops = append(s.loops, l)
			s.loopWG.Add(1)
			go l.run()
		}
	})
	return s.loops
}

func newLoop(s *Server) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wake)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	l := &loop{s: s, epfd: epfd, wake: wake, fds: map[int32]*loopConn{}}
	return l, nil
}

// wakeLoops makes every loop look at the server's state (closing).
func (s *Server) wakeLoops() {
	var one = [8]byte{1}
	for _, l := range s.loops {
		l.mu.Lock()
		if !l.dead {
			_, _ = unix.Write(l.wake, one[:])
		}
		l.mu.Unlock()
	}
}

// adopt takes an accepted TCP connection onto a loop: a duplicate of its
// descriptor replaces the *net.TCPConn, which is closed (it leaves Go's
// poller). It reports false, leaving nc as it was, when that fails.
func (s *Server) adopt(nc net.Conn) (*fdConn, bool) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil, false
	}
	if len(s.startLoops()) == 0 {
		return nil, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, false
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(sfd uintptr) { fd, dupErr = unix.FcntlInt(sfd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || dupErr != nil {
		return nil, false
	}
	// The duplicate shares the open file description: non-blocking, as Go
	// set it.
	fc := &fdConn{fd: fd, local: tc.LocalAddr(), remote: tc.RemoteAddr()}
	_ = tc.Close()
	return fc, true
}

// enqueue puts a connection whose Session is open on the next loop.
func (s *Server) enqueue(c *Conn, fc *fdConn, sess Session) {
	l := s.loops[int(s.nextLoop.Add(1))%len(s.loops)]
	lc := &loopConn{c: c, fc: fc, sess: sess, last: time.Now()}
	// Level-triggered: input left unread (the buffer was full) is reported
	// again by the next epoll_wait. Under mu: a loop that has ended does
	// not take it (its epoll descriptor is closed), and one that ends
	// later detaches it.
	l.mu.Lock()
	ok := !l.dead && !s.closing.Load()
	if ok {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fc.fd)}
		ok = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fc.fd, &ev) == nil
	}
	if ok {
		l.fds[int32(fc.fd)] = lc
	}
	l.mu.Unlock()
	if !ok {
		s.detach(lc, s.closing.Load())
	}
}

func (l *loop) run() {
	s := l.s
	defer s.loopWG.Done()
	runtime.LockOSThread() // see wait
	defer runtime.UnlockOSThread()
	events := make([]unix.EpollEvent, 256)
	ready := make([]*loopConn, 0, 256)
	nextSweep := time.Now().Add(loopIdleTick)
	for {
		n, err := l.wait(events)
		if err != nil {
			s.log.Error("event loop: epoll_wait failed; moving its connections to goroutines", "err", err)
			l.detachAll(false)
			return
		}
		if s.closing.Load() {
			l.detachAll(true)
			return
		}
		ready = ready[:0]
		l.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			if lc := l.fds[ev.Fd]; lc != nil {
				ready = append(ready, lc)
			}
		}
		l.mu.Unlock()
		for _, lc := range ready {
			if lc.writing {
				l.drain(lc)
			} else {
				l.step(lc)
			}
		}
		clear(ready)
		if now := time.Now(); now.After(nextSweep) {
			nextSweep = now.Add(loopIdleTick)
			l.sweep(now)
		}
	}
}

// wait returns the ready events, or 0 once loopIdleTick passed. The loop's
// goroutine has its own thread (LockOSThread) and blocks in epoll_wait
// there: measured against waiting in Go's poller for the epoll descriptor
// to be readable, and against two loops per port, this costs the least CPU
// per request (docs/BENCHMARKS.md, issue 16).
func (l *loop) wait(events []unix.EpollEvent) (int, error) {
	for {
		n, err := unix.EpollWait(l.epfd, events, int(loopIdleTick/time.Millisecond))
		if err != unix.EINTR {
			return max(n, 0), err
		}
	}
}

// step lets the connection's Session serve what it can read now.
func (l *loop) step(lc *loopConn) {
	next := Detach
	func() {
		defer func() {
			if r := recover(); r != nil {
				l.s.Panics.Add(1)
				l.s.log.Error("panic serving a connection; closing it", "remote", lc.fc.remote, "panic", r,
					"stack", string(debug.Stack()))
				lc.fc.failed = errors.New("connserver: handler panicked")
			}
		}()
		lc.fc.drained = false
		next = lc.sess.Step()
	}()
	lc.last = time.Now()
	if next == Wait && lc.fc.failed == nil {
		if len(lc.fc.pending) == 0 {
			return
		}
		if len(lc.fc.pending) <= loopMaxPending && !l.s.closing.Load() {
			ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLRDHUP, Fd: int32(lc.fc.fd)}
			if unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, lc.fc.fd, &ev) == nil {
				lc.writing = true
				return
			}
		}
	}
	l.remove(lc)
	l.s.detach(lc, false)
}

// drain writes what the socket takes of a connection's pending replies;
// once they are all out the loop reads from it again.
func (l *loop) drain(lc *loopConn) {
	fc := lc.fc
	n := 0
	for n < len(fc.pending) {
		k, err := rawWrite(fc.fd, fc.pending[n:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			fc.pending = fc.pending[n:]
			fc.failed = &net.OpError{Op: "write", Net: "tcp", Source: fc.local, Addr: fc.remote, Err: os.NewSyscallError("write", err)}
			l.remove(lc)
			l.s.detach(lc, false)
			return
		}
		n += k
	}
	if n == 0 {
		return
	}
	lc.last = time.Now()
	if n < len(fc.pending) {
		fc.pending = fc.pending[:copy(fc.pending, fc.pending[n:])]
		return
	}
	fc.pending = nil
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fc.fd)}
	if unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fc.fd, &ev) != nil {
		l.remove(lc)
		l.s.detach(lc, false)
		return
	}
	lc.writing = false
}

func (l *loop) remove(lc *loopConn) {
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, lc.fc.fd, nil)
	l.mu.Lock()
	delete(l.fds, int32(lc.fc.fd))
	l.mu.Unlock()
}

// sweep ends the connections idle past the idle timeout (their goroutine
// finds a read deadline in the past), and moves those whose pending
// replies made no progress for the write timeout to their goroutine (which
// gives them the write deadline).
func (l *loop) sweep(now time.Time) {
	idle := time.Duration(l.s.idleNs.Load())
	write := time.Duration(l.s.writeNs.Load())
	var old, stalled []*loopConn
	l.mu.Lock()
	for _, lc := range l.fds {
		switch {
		case lc.writing && now.Sub(lc.last) >= write:
			stalled = append(stalled, lc)
		case !lc.writing && now.Sub(lc.last) >= idle:
			old = append(old, lc)
		}
	}
	l.mu.Unlock()
	for _, lc := range old {
		l.remove(lc)
		l.s.detach(lc, true)
	}
	for _, lc := range stalled {
		l.remove(lc)
		l.s.detach(lc, false)
	}
}

// detachAll ends the loop: every connection moves to a goroutine
// (expire: finding a read deadline in the past, for shutdown) and the
// loop's descriptors are closed.
func (l *loop) detachAll(expire bool) {
	l.mu.Lock()
	all := make([]*loopConn, 0, len(l.fds))
	for _, lc := range l.fds {
		all = append(all, lc)
	}
	clear(l.fds)
	l.dead = true
	_ = unix.Close(l.epfd)
	_ = unix.Close(l.wake)
	l.mu.Unlock()
	for _, lc := range all {
		l.s.detach(lc, expire)
	}
}

// detach gives a connection off a loop its own goroutine: its descriptor
// becomes a *net.TCPConn in Go's poller, the replies the socket did not
// take are written first (with the write deadline), then the Session's
// Serve carries on where Step stopped; it ends the connection at once when
// the client left, a write failed, the server is closing, or expire is set
// (the idle timeout: a read deadline in the past).
func (s *Server) detach(lc *loopConn, expire bool) {
	c, fc := lc.c, lc.fc
	f := os.NewFile(uintptr(fc.fd), "tcp")
	nc, err := net.FileConn(f)
	s.mu.Lock()
	if err != nil {
		// What is left is the accounting: the goroutine ends at once.
		c.Conn = closedConn{fc}
		c.writeFailed = true
		s.log.Warn("event loop: could not move a connection to a goroutine; closing it", "remote", fc.remote, "err", err)
	} else {
		c.Conn = nc
	}
	// Close the loop's descriptor only once c.Conn no longer names it:
	// Close (under s.mu) shuts down c.Conn, and shutting down a descriptor
	// number after it was closed could hit whatever reused the number.
	_ = f.Close()
	if fc.failed != nil {
		c.writeFailed = true
	}
	closing := s.closing.Load()
	if err == nil && (closing || expire) {
		now := time.Now()
		_ = nc.SetReadDeadline(now)
		c.readAt = now
		if closing {
			_ = nc.SetWriteDeadline(now.Add(ShutdownWriteGrace))
		}
	}
	s.mu.Unlock()
	pending := fc.pending
	fc.pending = nil
	go s.run(c, func() {
		if err != nil || c.writeFailed {
			return
		}
		if len(pending) > 0 {
			if _, err := c.Write(pending); err != nil {
				return
			}
		}
		lc.sess.Serve()
	})
}

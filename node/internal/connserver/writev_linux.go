package connserver

import (
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// writevState is a connection's scratch for rawWritev: the iovec array and
// the raw descriptor of the net.Conn it was taken from.
type writevState struct {
	iov  [8]unix.Iovec
	of   net.Conn
	conn syscall.RawConn
}

// writev writes the pieces (at most 8) whole. On a TCP connection it issues
// writev as a raw system call inside the poller's RawConn.Write: the kernel's
// copy of a large reply (hundreds of µs for 1 MiB) then runs without
// entersyscall/exitsyscall, so sysmon does not take the goroutine's P away
// mid-copy and hand it to another thread, and the goroutine does not queue
// for a P again when the copy ends (the cost measured for native 1 MiB GETs
// in docs/BENCHMARKS.md). The descriptor is non-blocking, so the call never
// sleeps in the kernel; when the socket is full the poller waits for it to
// drain, under the write deadline. Other connections (TLS) use net.Buffers.
func (c *Conn) writev(pieces [][]byte) error {
	ws := &c.wv
	if ws.of != c.Conn {
		ws.of, ws.conn = c.Conn, nil
		if tc, ok := c.Conn.(*net.TCPConn); ok {
			if rc, err := tc.SyscallConn(); err == nil {
				ws.conn = rc
			}
		}
	}
	if ws.conn == nil {
		bufs := net.Buffers(pieces)
		_, err := bufs.WriteTo(c.Conn)
		return err
	}
	for len(pieces) > 0 {
		n := 0
		for _, p := range pieces {
			if len(p) > 0 && n < len(ws.iov) {
				ws.iov[n].Base = &p[0]
				ws.iov[n].SetLen(len(p))
				n++
			}
		}
		if n == 0 {
			return nil
		}
		var wrote int
		var errno syscall.Errno
		err := ws.conn.Write(func(fd uintptr) bool {
			for {
				r, _, e := unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&ws.iov[0])), uintptr(n))
				switch e {
				case 0:
					wrote = int(r)
					return true
				case unix.EINTR:
					continue
				case unix.EAGAIN:
					return false // the poller waits for room (or the deadline)
				}
				errno = e
				return true
			}
		})
		clear(ws.iov[:n])
		if err != nil {
			return err
		}
		if errno != 0 {
			return &net.OpError{Op: "writev", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: errno}
		}
		for wrote > 0 {
			if len(pieces[0]) <= wrote {
				wrote -= len(pieces[0])
				pieces = pieces[1:]
				continue
			}
			pieces[0] = pieces[0][wrote:]
			wrote = 0
		}
		for len(pieces) > 0 && len(pieces[0]) == 0 {
			pieces = pieces[1:]
		}
	}
	return nil
}

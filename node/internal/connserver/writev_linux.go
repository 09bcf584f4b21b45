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
	of   *net.TCPConn
	conn syscall.RawConn
}

// rawWritevMax is the largest batch rawWritev takes: a copy up to about
// 2 MiB runs in a few hundred µs, for which the hand-off sysmon does costs
// more than it frees; a longer one (a 4 MiB chunk of a 16 MiB reply) is left
// a plain system call, whose P other connections may use meanwhile.
const rawWritevMax = 2 << 20

// writev writes the pieces (at most 8) whole. A batch of up to rawWritevMax
// bytes on a TCP connection goes out by writev issued as a raw system call
// inside the poller's RawConn.Write: the kernel's copy of a 1 MiB reply
// (hundreds of µs) then runs without entersyscall/exitsyscall, so sysmon
// does not take the goroutine's P away mid-copy to hand it to another
// thread, and the goroutine does not queue for a P again when the copy ends
// (the cost measured for native 1 MiB GETs, docs/BENCHMARKS.md). The
// descriptor is non-blocking, so the call never sleeps in the kernel; when
// the socket is full the poller waits for it to drain, under the write
// deadline. Larger batches and other connections (TLS) use net.Buffers.
func (c *Conn) writev(pieces [][]byte) error {
	ws := &c.wv
	tc, _ := c.Conn.(*net.TCPConn)
	if tc != nil && ws.of != tc {
		ws.of, ws.conn = tc, nil
		if rc, err := tc.SyscallConn(); err == nil {
			ws.conn = rc
		}
	}
	total := 0
	for _, p := range pieces {
		total += len(p)
	}
	if tc == nil || ws.conn == nil || total > rawWritevMax {
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

package connserver

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loop's reads and writes are non-blocking (the socket's O_NONBLOCK):
// they return at once, so they are made as raw system calls, without the
// runtime's entersyscall/exitsyscall around them (which let the scheduler
// hand the thread's P to another thread while a call blocks, a cost paid
// per call). The loop's one blocking call, epoll_wait, stays an ordinary
// one.

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// rawRead is unix.Read as a raw system call.
func rawRead(fd int, p []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// rawWrite is unix.Write as a raw system call.
func rawWrite(fd int, p []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// rawWritev is unix.Writev as a raw system call; iov is scratch space for
// the vector (at least len(pieces) entries).
func rawWritev(fd int, pieces [][]byte, iov []unix.Iovec) (int, error) {
	iov = iov[:0]
	for _, p := range pieces {
		if len(p) == 0 {
			continue
		}
		v := unix.Iovec{Base: unsafe.SliceData(p)}
		v.SetLen(len(p))
		iov = append(iov, v)
	}
	if len(iov) == 0 {
		return 0, nil
	}
	r, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	if e != 0 {
		return -1, errnoErr(e)
	}
	return int(r), nil
}

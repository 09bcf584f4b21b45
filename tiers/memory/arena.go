package memory

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// arena is one anonymous private mapping: payload bytes live here, off the Go
// heap, so a large tier costs no GC work and no heap headroom. MAP_NORESERVE
// lets the kernel back pages only as they are first written, so RSS tracks
// the high-water mark of allocated extents, never more than the mapping.
type arena struct {
	mem []byte
}

// pageRound rounds n up to the system page size.
func pageRound(n int64) int64 {
	ps := int64(os.Getpagesize())
	return (n + ps - 1) &^ (ps - 1)
}

// mapArena maps size bytes (rounded up to pages).
func mapArena(size int64) (arena, error) {
	n := pageRound(size)
	if n <= 0 || int64(int(n)) != n {
		return arena{}, fmt.Errorf("memory: arena size %d not mappable", size)
	}
	mem, err := unix.Mmap(-1, 0, int(n), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_ANON|unix.MAP_PRIVATE|unix.MAP_NORESERVE)
	if err != nil {
		return arena{}, fmt.Errorf("memory: mmap %d bytes: %w", n, err)
	}
	return arena{mem: mem}, nil
}

// prefault backs every page now (MADV_POPULATE_WRITE, Linux 5.14+; touching
// each page on older kernels) so the first Puts do not pay page faults.
func (a *arena) prefault() error {
	if err := unix.Madvise(a.mem, unix.MADV_POPULATE_WRITE); err == nil {
		return nil
	}
	ps := os.Getpagesize()
	for i := 0; i < len(a.mem); i += ps {
		a.mem[i] = 0
	}
	return nil
}

// slice returns the arena bytes of [off, off+n) with capacity n, so an append
// by a careless caller cannot run into the next extent.
func (a *arena) slice(off, n int64) []byte {
	if n == 0 {
		return nil
	}
	return a.mem[off : off+n : off+n]
}

// unmap releases the mapping; later calls are no-ops.
func (a *arena) unmap() error {
	if a.mem == nil {
		return nil
	}
	err := unix.Munmap(a.mem)
	a.mem = nil
	if err != nil {
		return fmt.Errorf("memory: munmap: %w", err)
	}
	return nil
}

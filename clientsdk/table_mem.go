package clientsdk

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugeTableBytes: tables at least this large are mapped outside the Go
// heap with MADV_HUGEPAGE. A 16 MiB table on 4 KiB pages costs a TLB miss
// (a page walk) on almost every lookup of a long prompt; on 2 MiB pages
// it is 8 TLB entries.
const hugeTableBytes = 4 << 20

// tableMem owns a table mapped outside the heap; its cleanup unmaps it.
type tableMem struct{ b []byte }

// newTable returns a zeroed table of n entries. Large tables are mmapped
// (unmapped by freeTable, or when the owning Index is collected); the
// heap is the fallback where mmap fails.
func newTable(n int) ([]entry, *tableMem) {
	size := n * int(unsafe.Sizeof(entry(0)))
	if size < hugeTableBytes {
		return make([]entry, n), nil
	}
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return make([]entry, n), nil
	}
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // best effort: THP may be off
	return unsafe.Slice((*entry)(unsafe.Pointer(&b[0])), n), &tableMem{b: b}
}

func (m *tableMem) free() {
	if m != nil && m.b != nil {
		_ = unix.Munmap(m.b)
		m.b = nil
	}
}

// setTable installs a new table, unmapping the previous one (callers hold
// the write lock, so no reader still uses it).
func (ix *Index) setTable(t []entry, m *tableMem) {
	if ix.mem == nil {
		ix.mem = &tableHolder{}
		runtime.AddCleanup(ix, func(h *tableHolder) { h.m.free() }, ix.mem)
	}
	ix.mem.m.free()
	ix.table, ix.mem.m = t, m
}

// tableHolder is what the Index's cleanup frees (it must not reference
// the Index itself).
type tableHolder struct{ m *tableMem }

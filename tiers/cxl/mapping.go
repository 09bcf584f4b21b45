package cxl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/stratacache/stratacache/extent"
)

// mapping is the shared mapping of a pool: the engine's Media.
type mapping struct {
	f    *os.File
	data []byte
}

func (m *mapping) ReadAt(p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > int64(len(m.data)) {
		return fmt.Errorf("cxl: read [%d,+%d) outside the mapping", off, len(p))
	}
	copy(p, m.data[off:])
	return nil
}

func (m *mapping) WriteAt(p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > int64(len(m.data)) {
		return fmt.Errorf("cxl: write [%d,+%d) outside the mapping", off, len(p))
	}
	copy(m.data[off:], p)
	return nil
}

func (m *mapping) word(off int64) *uint64 { return wordAt(m.data, uint64(off)) }

// wordAt is the 8-byte-aligned word at off of a mapping, for atomic access.
func wordAt(data []byte, off uint64) *uint64 {
	return (*uint64)(unsafe.Pointer(&data[off]))
}

// PublishSlot stores the record's tail, then its first word atomically: the
// atomic store orders it after the tail for any observer of the mapping.
func (m *mapping) PublishSlot(rec []byte, off int64) error {
	copy(m.data[off+8:off+extent.SlotSize], rec[8:extent.SlotSize])
	atomic.StoreUint64(m.word(off), binary.LittleEndian.Uint64(rec))
	return nil
}

func (m *mapping) ClearSlot(off int64) error {
	atomic.StoreUint64(m.word(off), 0)
	return nil
}

func (m *mapping) Window(off, n int64) []byte { return m.data[off : off+n : off+n] }

// Freed zeroes the extent header's generation so a read-only attacher that
// re-checks it after reading sees the extent was let go.
func (m *mapping) Freed(off int64) {
	atomic.StoreUint64(m.word(off+extent.GenerationOffset), 0)
}

func (m *mapping) Sync() error {
	if m.data == nil {
		return nil
	}
	return unix.Msync(m.data, unix.MS_SYNC)
}

func (m *mapping) Close() error {
	var errs []error
	if m.data != nil {
		errs = append(errs, unix.Munmap(m.data))
		m.data = nil
	}
	if m.f != nil {
		errs = append(errs, m.f.Close()) // drops the flock too
		m.f = nil
	}
	return errors.Join(errs...)
}

// mapFile maps size bytes of f shared.
func mapFile(f *os.File, size uint64, writable bool) ([]byte, error) {
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	if size == 0 || size > uint64(^uint(0)>>1) {
		return nil, fmt.Errorf("%w: cannot map %d bytes", ErrTooSmall, size)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("cxl: mmap %s (%d bytes): %w", f.Name(), size, err)
	}
	return data, nil
}

package disk

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/stratacache/stratacache/extent"
)

// file is the engine's Media over one pre-allocated file.
type file struct {
	f *os.File
}

func (m *file) ReadAt(p []byte, off int64) error {
	if _, err := m.f.ReadAt(p, off); err != nil {
		return fmt.Errorf("disk: pread %d bytes at %d: %w", len(p), off, err)
	}
	return nil
}

func (m *file) WriteAt(p []byte, off int64) error {
	if _, err := m.f.WriteAt(p, off); err != nil {
		return fmt.Errorf("disk: pwrite %d bytes at %d: %w", len(p), off, err)
	}
	return nil
}

// PublishSlot writes the record with one pwrite of 64 bytes inside a
// sector: a process crash leaves it whole or absent, a power loss at worst
// torn, which its checksum catches.
func (m *file) PublishSlot(rec []byte, off int64) error {
	return m.WriteAt(rec[:extent.SlotSize], off)
}

var zeroWord [8]byte

func (m *file) ClearSlot(off int64) error { return m.WriteAt(zeroWord[:], off) }

func (m *file) Window(off, n int64) []byte { return nil }

func (m *file) Freed(off int64) {}

func (m *file) Sync() error {
	if err := unix.Fdatasync(int(m.f.Fd())); err != nil {
		return fmt.Errorf("disk: fdatasync: %w", err)
	}
	return nil
}

func (m *file) Close() error { return m.f.Close() }

package engine

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/stratacache/stratacache/extent"
)

// memMedia is a heap-backed Media for tests; mapped selects zero-copy
// windows, failWrites injects write errors.
type memMedia struct {
	mu         sync.Mutex // guards nothing but the fault switch
	b          []byte
	mapped     bool
	keepFreed  bool // Freed leaves the header alone (as the disk tier does)
	failWrites atomic.Bool
	closed     atomic.Bool
	syncs      atomic.Int64
}

var errInjected = errors.New("injected EIO")

func newMemMedia(g extent.Geometry, mapped bool) *memMedia {
	return &memMedia{b: make([]byte, g.TotalSize()), mapped: mapped}
}

func (m *memMedia) ReadAt(p []byte, off int64) error {
	copy(p, m.b[off:])
	return nil
}

func (m *memMedia) WriteAt(p []byte, off int64) error {
	if m.failWrites.Load() {
		return errInjected
	}
	copy(m.b[off:], p)
	return nil
}

func (m *memMedia) PublishSlot(rec []byte, off int64) error {
	if m.failWrites.Load() {
		return errInjected
	}
	copy(m.b[off+8:], rec[8:])
	copy(m.b[off:off+8], rec[:8])
	return nil
}

func (m *memMedia) ClearSlot(off int64) error {
	binary.LittleEndian.PutUint64(m.b[off:], 0)
	return nil
}

func (m *memMedia) Window(off, n int64) []byte {
	if !m.mapped {
		return nil
	}
	return m.b[off : off+n : off+n]
}

func (m *memMedia) Freed(off int64) {
	if m.keepFreed {
		return
	}
	binary.LittleEndian.PutUint64(m.b[off+extent.GenerationOffset:], 0)
}

func (m *memMedia) Sync() error  { m.syncs.Add(1); return nil }
func (m *memMedia) Close() error { m.closed.Store(true); return nil }

// fifo is a minimal policy with pins for the engine's tests.
type fifo struct {
	order []uint64
	pins  map[uint64]int
	in    map[uint64]bool
}

func newFIFO() *fifo { return &fifo{pins: map[uint64]int{}, in: map[uint64]bool{}} }

func (f *fifo) Insert(k uint64) {
	if !f.in[k] {
		f.in[k] = true
		f.order = append(f.order, k)
	}
}
func (f *fifo) Touch(uint64) {}
func (f *fifo) Remove(k uint64) {
	if !f.in[k] {
		return
	}
	delete(f.in, k)
	delete(f.pins, k)
	for i, x := range f.order {
		if x == k {
			f.order = append(f.order[:i], f.order[i+1:]...)
			return
		}
	}
}
func (f *fifo) Evict() (uint64, bool) {
	for i, k := range f.order {
		if f.pins[k] == 0 {
			f.order = append(f.order[:i], f.order[i+1:]...)
			delete(f.in, k)
			return k, true
		}
	}
	return 0, false
}
func (f *fifo) Pin(k uint64) {
	if f.in[k] {
		f.pins[k]++
	}
}
func (f *fifo) Unpin(k uint64) {
	if f.pins[k] > 0 {
		f.pins[k]--
	}
}

package engine

import (
	"sync/atomic"

	"github.com/stratacache/stratacache/artifact"
)

// mappedView is a window on a mapped medium; the extent stays allocated
// (and the mapping open) until Release.
type mappedView struct {
	e        *Engine
	en       *entry
	b        []byte
	meta     artifact.Meta
	released atomic.Bool
}

func (v *mappedView) Bytes() []byte       { return v.b }
func (v *mappedView) Meta() artifact.Meta { return v.meta }

func (v *mappedView) Release() {
	if v.released.Swap(true) {
		return
	}
	v.b = nil
	v.e.mu.Lock()
	v.e.unrefLocked(v.en)
	v.e.mu.Unlock()
	v.e.viewReleased()
}

// heapView owns a private copy of the payload (disk tier): the extent was
// let go as soon as the copy was made.
type heapView struct {
	e        *Engine
	b        []byte
	meta     artifact.Meta
	released atomic.Bool
}

func (v *heapView) Bytes() []byte       { return v.b }
func (v *heapView) Meta() artifact.Meta { return v.meta }

func (v *heapView) Release() {
	if v.released.Swap(true) {
		return
	}
	v.b = nil
	v.e.viewReleased()
}

package trace

import (
	"fmt"
	"math"
)

// Builder assembles a Trace request by request, remapping caller block keys
// to dense ids. Keys are either global (Mooncake: equal key, equal block) or
// path-scoped (Bailian: a key names a block only under its parent). A
// Builder is not safe for concurrent use.
type Builder struct {
	t      Trace
	pathed bool
	// small global keys remap through a slice, the rest through a map.
	small []uint32
	big   map[uint64]uint32
	path  map[pathKey]uint32
}

type pathKey struct {
	parent uint32
	key    uint64
}

// smallKeys bounds the slice remap (64 MiB of uint32 at most).
const smallKeys = 1 << 24

// NewBuilder starts a trace. pathScoped selects path keys (Bailian).
func NewBuilder(name string, f Format, blockTokens int, pathScoped bool) *Builder {
	b := &Builder{pathed: pathScoped}
	b.t = Trace{
		Name:        name,
		Format:      f,
		BlockTokens: blockTokens,
		Offsets:     []uint32{0},
		Parent:      []uint32{0},
		Depth:       []uint32{0},
	}
	if pathScoped {
		b.path = make(map[pathKey]uint32)
	} else {
		b.big = make(map[uint64]uint32)
	}
	return b
}

// Grow reserves room for about n more block accesses and r more requests.
func (b *Builder) Grow(n, r int) {
	if cap(b.t.Blocks)-len(b.t.Blocks) < n {
		nb := make([]uint32, len(b.t.Blocks), len(b.t.Blocks)+n)
		copy(nb, b.t.Blocks)
		b.t.Blocks = nb
	}
	_ = r
}

// id returns the dense id of key under parent at depth, creating it.
func (b *Builder) id(key uint64, parent, depth uint32) (uint32, error) {
	if b.pathed {
		pk := pathKey{parent, key}
		if d, ok := b.path[pk]; ok {
			return d, nil
		}
		return b.newID(parent, depth, func(d uint32) { b.path[pk] = d })
	}
	if key < smallKeys {
		if key < uint64(len(b.small)) {
			if d := b.small[key]; d != 0 {
				return d, nil
			}
		} else {
			n := 2 * len(b.small)
			if n <= int(key) {
				n = int(key) + 1024
			}
			if n > smallKeys {
				n = smallKeys
			}
			ns := make([]uint32, n)
			copy(ns, b.small)
			b.small = ns
		}
		return b.newID(parent, depth, func(d uint32) { b.small[key] = d })
	}
	if d, ok := b.big[key]; ok {
		return d, nil
	}
	return b.newID(parent, depth, func(d uint32) { b.big[key] = d })
}

func (b *Builder) newID(parent, depth uint32, record func(uint32)) (uint32, error) {
	if len(b.t.Parent) >= math.MaxUint32 {
		return 0, fmt.Errorf("%w: more than %d distinct blocks", ErrTooLarge, uint32(math.MaxUint32-1))
	}
	d := uint32(len(b.t.Parent))
	b.t.Parent = append(b.t.Parent, parent)
	b.t.Depth = append(b.t.Depth, depth)
	record(d)
	return d, nil
}

// Add appends one request whose prompt is the block keys keys (root first).
func (b *Builder) Add(tsMs int64, inTok, outTok uint32, keys []uint64) error {
	if uint64(len(b.t.Blocks))+uint64(len(keys)) >= math.MaxUint32 {
		return fmt.Errorf("%w: more than %d block accesses", ErrTooLarge, uint32(math.MaxUint32-1))
	}
	var parent uint32
	for i, k := range keys {
		d, err := b.id(k, parent, uint32(i+1))
		if err != nil {
			return err
		}
		b.t.Blocks = append(b.t.Blocks, d)
		parent = d
	}
	b.t.Offsets = append(b.t.Offsets, uint32(len(b.t.Blocks)))
	b.t.TimestampsMs = append(b.t.TimestampsMs, tsMs)
	b.t.InputTokens = append(b.t.InputTokens, inTok)
	b.t.OutputTokens = append(b.t.OutputTokens, outTok)
	return nil
}

// Skip counts a dropped bad line.
func (b *Builder) Skip() { b.t.Skipped++ }

// Len is the number of requests added so far.
func (b *Builder) Len() int { return len(b.t.Offsets) - 1 }

// Trace returns the trace built so far; the Builder must not be used after.
func (b *Builder) Trace() *Trace {
	t := b.t
	b.small, b.big, b.path = nil, nil, nil
	return &t
}

package trace

import (
	"errors"
	"fmt"
)

// Sentinel errors of the package, wrapped with %w and context.
var (
	// ErrSyntax: a line is not a JSON object of the expected form.
	ErrSyntax = errors.New("trace: syntax error")
	// ErrFormat: the trace form is unknown or cannot be detected.
	ErrFormat = errors.New("trace: unknown format")
	// ErrEmpty: the trace holds no request.
	ErrEmpty = errors.New("trace: no requests")
	// ErrTooLarge: the trace has more blocks than 32-bit ids can name.
	ErrTooLarge = errors.New("trace: too many blocks")
)

// Format names a trace form.
type Format uint8

// The forms Read knows.
const (
	FormatAuto Format = iota
	FormatMooncake
	FormatBailian
	FormatGenerated
)

func (f Format) String() string {
	switch f {
	case FormatAuto:
		return "auto"
	case FormatMooncake:
		return "mooncake"
	case FormatBailian:
		return "bailian"
	case FormatGenerated:
		return "generated"
	}
	return "unknown"
}

// ParseFormat maps a flag value to a Format.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "", "auto":
		return FormatAuto, nil
	case "mooncake":
		return FormatMooncake, nil
	case "bailian", "qwen", "qwen-bailian":
		return FormatBailian, nil
	}
	return FormatAuto, fmt.Errorf("%w: %q (want auto, mooncake or bailian)", ErrFormat, s)
}

// Trace is a request trace in dense form. Dense block ids start at 1; 0
// means "no block" (the parent of a root block). The zero Trace is empty;
// build one with a Builder or Read.
type Trace struct {
	Name        string
	Format      Format
	BlockTokens int // tokens per block: 512 (Mooncake), 16 (Bailian)

	// Blocks holds every request's dense block ids, root first,
	// concatenated; request i is Blocks[Offsets[i]:Offsets[i+1]].
	Blocks  []uint32
	Offsets []uint32

	// Per request.
	TimestampsMs []int64
	InputTokens  []uint32
	OutputTokens []uint32

	// Per dense id (index 0 unused): the parent id (0 for a root block)
	// and the depth (1 for a root block).
	Parent []uint32
	Depth  []uint32

	// Skipped counts bad lines dropped in lenient mode.
	Skipped int
}

// Len is the number of requests.
func (t *Trace) Len() int {
	if len(t.Offsets) == 0 {
		return 0
	}
	return len(t.Offsets) - 1
}

// Request returns the dense block ids of request i (a sub-slice of Blocks:
// do not modify it).
func (t *Trace) Request(i int) []uint32 {
	return t.Blocks[t.Offsets[i]:t.Offsets[i+1]]
}

// NumBlocks is the number of distinct blocks (the largest dense id).
func (t *Trace) NumBlocks() int {
	if len(t.Parent) == 0 {
		return 0
	}
	return len(t.Parent) - 1
}

// IsTree reports whether every block has the same parent wherever it
// occurs (the previous block of its request, 0 for a request's first
// block), i.e. the trace is a prefix tree, as real prefix-hash traces are.
// A request of a tree never holds a block twice. Traces built from keys
// that ignore the prefix rule (hand-written ids, a broken exporter) are
// not trees; the simulator's caches handle both, trees on a faster path.
func (t *Trace) IsTree() bool {
	for r := 0; r < t.Len(); r++ {
		var prev uint32
		for _, b := range t.Blocks[t.Offsets[r]:t.Offsets[r+1]] {
			if t.Parent[b] != prev {
				return false
			}
			prev = b
		}
	}
	return true
}

// Accesses is the total number of block accesses (sum of request lengths).
func (t *Trace) Accesses() int { return len(t.Blocks) }

// MaxRequestBlocks is the length of the longest request.
func (t *Trace) MaxRequestBlocks() int {
	m := 0
	for i := 0; i < t.Len(); i++ {
		if n := int(t.Offsets[i+1] - t.Offsets[i]); n > m {
			m = n
		}
	}
	return m
}

// Slice returns a trace of requests [from, to) sharing t's id space (ids
// that do not occur in the slice simply stay unused).
func (t *Trace) Slice(from, to int) *Trace {
	if from < 0 {
		from = 0
	}
	if to > t.Len() {
		to = t.Len()
	}
	if to < from {
		to = from
	}
	s := *t
	s.Name = fmt.Sprintf("%s[%d:%d]", t.Name, from, to)
	off := make([]uint32, to-from+1)
	base := t.Offsets[from]
	for i := range off {
		off[i] = t.Offsets[from+i] - base
	}
	s.Offsets = off
	s.Blocks = t.Blocks[base:t.Offsets[to]]
	s.TimestampsMs = t.TimestampsMs[from:to]
	s.InputTokens = t.InputTokens[from:to]
	s.OutputTokens = t.OutputTokens[from:to]
	return &s
}

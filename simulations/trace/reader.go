package trace

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// Options tune Read.
type Options struct {
	// Format of the lines; FormatAuto detects it from the first line
	// (a "chat_id" key means Bailian).
	Format Format
	// Lenient skips bad lines (counted in Trace.Skipped) instead of failing
	// with the first one's line number.
	Lenient bool
	// MaxRequests stops after that many requests (0: all).
	MaxRequests int
	// Name labels the trace (default: the file's base name).
	Name string
}

// ReadFile reads a trace file.
func ReadFile(path string, opts Options) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	defer f.Close()
	if opts.Name == "" {
		opts.Name = filepath.Base(path)
	}
	var hint int
	if st, err := f.Stat(); err == nil {
		hint = int(st.Size())
	}
	return read(f, opts, hint)
}

// Read reads a JSONL trace from r.
func Read(r io.Reader, opts Options) (*Trace, error) { return read(r, opts, 0) }

// fields are the values of one trace line.
type fields struct {
	tsMs    int64
	in, out uint32
	keys    []uint64
	hasKeys bool
	seen    uint8 // the known keys read so far (seenXxx bits)
}

// Bits of fields.seen: a known key given twice makes the line ambiguous.
const (
	seenHashIDs uint8 = 1 << iota
	seenTimestamp
	seenInput
	seenOutput
)

func read(r io.Reader, opts Options, sizeHint int) (*Trace, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<28)
	var (
		b    *Builder
		s    scanner
		f    fields
		line int
	)
	name := opts.Name
	if name == "" {
		name = "trace"
	}
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		if b == nil {
			format := opts.Format
			if format == FormatAuto {
				format = FormatMooncake
				if bytes.Contains(text, []byte(`"chat_id"`)) {
					format = FormatBailian
				}
			}
			switch format {
			case FormatMooncake:
				b = NewBuilder(name, format, 512, false)
			case FormatBailian:
				b = NewBuilder(name, format, 16, true)
			default:
				return nil, fmt.Errorf("%w: %v", ErrFormat, format)
			}
			if sizeHint > 0 {
				// About four bytes of JSON per block id in these traces.
				b.Grow(sizeHint/4, 0)
			}
		}
		f = fields{keys: f.keys[:0]}
		s.reset(text)
		err := parseLine(&s, &f, b.t.Format)
		if err == nil {
			err = b.Add(f.tsMs, f.in, f.out, f.keys)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, line, err)
			}
		}
		if err != nil {
			if !opts.Lenient {
				return nil, fmt.Errorf("%s:%d: %w", name, line, err)
			}
			b.Skip()
			continue
		}
		if opts.MaxRequests > 0 && b.Len() >= opts.MaxRequests {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w: %w", name, line+1, ErrSyntax, err)
	}
	if b == nil || b.Len() == 0 {
		return nil, fmt.Errorf("%s: %w", name, ErrEmpty)
	}
	return b.Trace(), nil
}

// parseLine reads one object into f.
func parseLine(s *scanner, f *fields, format Format) error {
	if err := s.begin(); err != nil {
		return err
	}
	for first := true; ; first = false {
		k, done, err := s.key(first)
		if err != nil {
			return err
		}
		if done {
			break
		}
		var bit uint8
		switch string(k) {
		case "hash_ids":
			bit = seenHashIDs
		case "timestamp":
			bit = seenTimestamp
		case "input_length":
			bit = seenInput
		case "output_length":
			bit = seenOutput
		}
		if f.seen&bit != 0 {
			return s.errorf("repeated key %q", k)
		}
		f.seen |= bit
		switch string(k) {
		case "hash_ids":
			f.keys, err = s.uintArray(f.keys)
			f.hasKeys = true
		case "timestamp":
			var v float64
			v, err = s.number()
			if format == FormatBailian {
				v *= 1000 // seconds in Bailian traces
			}
			if err == nil && (v < math.MinInt64/2 || v > math.MaxInt64/2 || v != v) {
				err = s.errorf("timestamp out of range")
			}
			f.tsMs = int64(v)
		case "input_length":
			f.in, err = s.uint32()
		case "output_length":
			f.out, err = s.uint32()
		default:
			err = s.skip()
		}
		if err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
	}
	if !f.hasKeys {
		return fmt.Errorf("%w: no hash_ids", ErrSyntax)
	}
	return nil
}

func (s *scanner) uint32() (uint32, error) {
	v, err := s.uint()
	if err != nil {
		return 0, err
	}
	if v > math.MaxUint32 {
		return 0, s.errorf("%d does not fit 32 bits", v)
	}
	return uint32(v), nil
}

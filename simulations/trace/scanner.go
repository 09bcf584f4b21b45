package trace

import (
	"fmt"
	"math"
	"strconv"
)

// scanner walks one JSON object held in a byte slice without allocating.
// It knows just enough JSON for trace lines: an object of keys whose values
// are numbers, strings, literals, arrays of integers, or anything else to be
// skipped.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) reset(b []byte) { s.b, s.i = b, 0 }

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: column %d: %s", ErrSyntax, s.i+1, fmt.Sprintf(format, args...))
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return s.errorf("want %q", c)
	}
	s.i++
	return nil
}

// begin consumes the opening brace of the object.
func (s *scanner) begin() error { return s.expect('{') }

// key returns the next key and consumes its colon; done is true at the
// closing brace. first tells whether a comma is expected before the key.
func (s *scanner) key(first bool) (key []byte, done bool, err error) {
	c := s.peek()
	if c == '}' {
		s.i++
		if s.peek() != 0 {
			return nil, true, s.errorf("trailing data after object")
		}
		return nil, true, nil
	}
	if !first {
		if c != ',' {
			return nil, false, s.errorf("want ',' or '}'")
		}
		s.i++
	}
	k, err := s.str()
	if err != nil {
		return nil, false, err
	}
	if err := s.expect(':'); err != nil {
		return nil, false, err
	}
	return k, false, nil
}

// str returns a string's raw bytes (escapes left as they are: trace keys
// and the values read here never need them).
func (s *scanner) str() ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.errorf("want a string")
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			v := s.b[start:s.i]
			s.i++
			return v, nil
		}
		s.i++
	}
	return nil, s.errorf("unterminated string")
}

// uint reads a non-negative integer.
func (s *scanner) uint() (uint64, error) {
	s.ws()
	start := s.i
	var v uint64
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c < '0' || c > '9' {
			break
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, s.errorf("integer overflows 64 bits")
		}
		v = v*10 + d
		s.i++
	}
	if s.i == start {
		return 0, s.errorf("want a non-negative integer")
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return 0, s.errorf("want an integer, got a fraction")
		}
	}
	return v, nil
}

// number reads any JSON number as a float64 (integers take the fast path).
func (s *scanner) number() (float64, error) {
	s.ws()
	start := s.i
	neg := false
	if s.i < len(s.b) && s.b[s.i] == '-' {
		neg = true
		s.i++
	}
	intStart := s.i
	var v uint64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' && s.i-intStart < 18 {
		v = v*10 + uint64(s.b[s.i]-'0')
		s.i++
	}
	if s.i == intStart {
		s.i = start
		return 0, s.errorf("want a number")
	}
	if s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '.' || c == 'e' || c == 'E' || (c >= '0' && c <= '9'):
			for s.i < len(s.b) {
				c := s.b[s.i]
				if (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' {
					s.i++
					continue
				}
				break
			}
			f, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
			if err != nil {
				return 0, s.errorf("bad number %q", s.b[start:s.i])
			}
			return f, nil
		}
	}
	f := float64(v)
	if neg {
		f = -f
	}
	return f, nil
}

// uintArray appends an array of non-negative integers to dst.
func (s *scanner) uintArray(dst []uint64) ([]uint64, error) {
	if err := s.expect('['); err != nil {
		return dst, err
	}
	if s.peek() == ']' {
		s.i++
		return dst, nil
	}
	for {
		v, err := s.uint()
		if err != nil {
			return dst, err
		}
		dst = append(dst, v)
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return dst, nil
		default:
			return dst, s.errorf("want ',' or ']' in array")
		}
	}
}

// skip consumes any JSON value.
func (s *scanner) skip() error {
	switch c := s.peek(); {
	case c == '"':
		_, err := s.str()
		return err
	case c == '{' || c == '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, err := s.str(); err != nil {
					return err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return nil
				}
			}
			s.i++
		}
		return s.errorf("unterminated value")
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := s.number()
		return err
	case c == 't' || c == 'f' || c == 'n':
		for s.i < len(s.b) && s.b[s.i] >= 'a' && s.b[s.i] <= 'z' {
			s.i++
		}
		return nil
	}
	return s.errorf("want a value")
}

package frame

import (
	"bufio"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/stratacache/stratacache/messages"
)

// Reader reads frames from a stream. It is not safe for concurrent use.
// After Next, the frame's payload must be consumed (ReadPayload or
// Discard) before the next call to Next.
type Reader struct {
	br      *bufio.Reader
	lim     Limits
	prefix  [PrefixLen]byte
	hbuf    []byte
	pending uint64 // payload bytes of the current frame not yet consumed
}

// NewReader reads frames from r within lim.
func NewReader(r io.Reader, lim Limits) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Reader{br: br, lim: lim}
}

// Next reads the next frame's prefix and header into hdr (reset first). It
// checks that the header agrees with the prefix: the same request id, and
// payload lengths that add up to the prefix's. io.EOF means the stream
// ended cleanly between frames.
func (r *Reader) Next(hdr *messages.FrameHeader) (Prefix, error) {
	if r.pending > 0 {
		if err := r.Discard(); err != nil {
			return Prefix{}, err
		}
	}
	if _, err := io.ReadFull(r.br, r.prefix[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return Prefix{}, fmt.Errorf("%w: truncated prefix", ErrMalformed)
		}
		return Prefix{}, err
	}
	p, err := ParsePrefix(r.prefix[:], r.lim)
	if err != nil {
		return p, err
	}
	if cap(r.hbuf) < int(p.HeaderLen) {
		r.hbuf = make([]byte, p.HeaderLen)
	}
	hb := r.hbuf[:p.HeaderLen]
	if _, err := io.ReadFull(r.br, hb); err != nil {
		return p, fmt.Errorf("%w: truncated header: %v", ErrMalformed, err)
	}
	proto.Reset(hdr)
	if err := proto.Unmarshal(hb, hdr); err != nil {
		return p, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if err := Check(p, hdr); err != nil {
		return p, err
	}
	r.pending = p.PayloadLen
	return p, nil
}

// Check verifies that a header agrees with its prefix.
func Check(p Prefix, hdr *messages.FrameHeader) error {
	if hdr.RequestId != p.RequestID {
		return fmt.Errorf("%w: request id %d in header, %d in prefix", ErrMalformed, hdr.RequestId, p.RequestID)
	}
	if len(hdr.PayloadLengths) > 0 {
		var sum uint64
		for _, n := range hdr.PayloadLengths {
			if n > p.PayloadLen || sum+n < sum {
				return fmt.Errorf("%w: payload lengths overflow", ErrMalformed)
			}
			sum += n
		}
		if sum != p.PayloadLen {
			return fmt.Errorf("%w: payload lengths add up to %d, prefix says %d", ErrMalformed, sum, p.PayloadLen)
		}
	} else if hdr.PayloadLength != p.PayloadLen {
		return fmt.Errorf("%w: payload length %d in header, %d in prefix", ErrMalformed, hdr.PayloadLength, p.PayloadLen)
	}
	return nil
}

// Pending is the number of payload bytes of the current frame not yet read.
func (r *Reader) Pending() uint64 { return r.pending }

// ReadPayload reads the next len(dst) payload bytes of the current frame
// into dst. It refuses to read past the frame.
func (r *Reader) ReadPayload(dst []byte) error {
	if uint64(len(dst)) > r.pending {
		return fmt.Errorf("%w: reading %d payload bytes, %d left in frame", ErrMalformed, len(dst), r.pending)
	}
	n, err := io.ReadFull(r.br, dst)
	r.pending -= uint64(n)
	if err != nil {
		return fmt.Errorf("%w: truncated payload: %v", ErrMalformed, err)
	}
	return nil
}

// Discard skips the rest of the current frame's payload.
func (r *Reader) Discard() error {
	for r.pending > 0 {
		n := r.pending
		if n > 1<<20 {
			n = 1 << 20
		}
		d, err := r.br.Discard(int(n))
		r.pending -= uint64(d)
		if err != nil {
			return fmt.Errorf("%w: truncated payload: %v", ErrMalformed, err)
		}
	}
	return nil
}

package frame

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/stratacache/stratacache/messages"
)

// Reader reads frames from a stream: servers (node/native, the cluster's
// peer server, test fakes) and the client Conn all read with it. It is not
// safe for concurrent use. After Next, the frame's payload is read with
// ReadPayload, Skip or CopyPayload, or skipped whole by Discard (Next
// discards what is left). The count of unread payload bytes is exact even
// when a read fails part-way (a deadline), so a caller may retry or discard
// later and the stream stays in step.
type Reader struct {
	br       *bufio.Reader
	lim      Limits
	prefix   [PrefixLen]byte
	hbuf     []byte
	pending  uint64 // payload bytes of the current frame not yet consumed
	readFull func(src io.Reader, dst []byte) error
	err      error // sticky: the position in the stream is lost
}

// maxKeptHeader is the header buffer a Reader keeps between frames: a rare
// huge batch header does not pin its buffer for the connection's life.
const maxKeptHeader = 64 << 10

// NewReader reads frames from r within lim.
func NewReader(r io.Reader, lim Limits) *Reader {
	rd := &Reader{lim: lim}
	rd.Reset(r)
	return rd
}

// Reset reads from r from now on (a server swaps in a larger buffer once a
// connection is authenticated), between frames: whatever the old source
// had buffered is the caller's to carry over. A *bufio.Reader is used as
// it is; anything else gets a 64 KiB buffer.
func (r *Reader) Reset(src io.Reader) {
	br, ok := src.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(src, 64<<10)
	}
	r.br = br
}

// SetLimits changes the limits checked on the next prefixes (a server
// applies tighter ones until a connection is authenticated).
func (r *Reader) SetLimits(lim Limits) { r.lim = lim }

// SetReadFull replaces io.ReadFull for payload reads (a server arms a
// progress deadline per chunk there). f does not report how much it read,
// so after an error from it the Reader refuses every later call.
func (r *Reader) SetReadFull(f func(src io.Reader, dst []byte) error) { r.readFull = f }

// truncated wraps a read that ended inside a frame: ErrMalformed when the
// stream ended or broke the layout, but not when the read timed out or the
// connection was closed under it (a slow or gone peer sent nothing wrong).
func truncated(what string, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("frame: %s: %w", what, err)
	}
	return fmt.Errorf("%w: truncated %s: %w", ErrMalformed, what, err)
}

// Next reads the next frame's prefix and header into hdr (reset first). It
// checks that the header agrees with the prefix: the same request id, and
// payload lengths that add up to the prefix's. io.EOF means the stream
// ended cleanly between frames.
func (r *Reader) Next(hdr *messages.FrameHeader) (Prefix, error) {
	proto.Reset(hdr) // an error before the header leaves request id 0, not the last one
	if r.err != nil {
		return Prefix{}, r.err
	}
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
	if cap(r.hbuf) > maxKeptHeader && int(p.HeaderLen) <= maxKeptHeader {
		r.hbuf = nil
	}
	if cap(r.hbuf) < int(p.HeaderLen) {
		r.hbuf = make([]byte, p.HeaderLen)
	}
	hb := r.hbuf[:p.HeaderLen]
	if _, err := io.ReadFull(r.br, hb); err != nil {
		return p, truncated("header", err)
	}
	if err := proto.Unmarshal(hb, hdr); err != nil {
		return p, fmt.Errorf("%w: header: %w", ErrMalformed, err)
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
// into dst. It refuses to read past the frame. On an error part-way, the
// bytes read count as consumed (Pending says what is left).
func (r *Reader) ReadPayload(dst []byte) error {
	if r.err != nil {
		return r.err
	}
	if uint64(len(dst)) > r.pending {
		return fmt.Errorf("%w: reading %d payload bytes, %d left in frame", ErrMalformed, len(dst), r.pending)
	}
	if r.readFull != nil {
		if err := r.readFull(r.br, dst); err != nil {
			r.err = truncated("payload", err)
			return r.err
		}
		r.pending -= uint64(len(dst))
		return nil
	}
	n, err := io.ReadFull(r.br, dst)
	r.pending -= uint64(n)
	if err != nil {
		return truncated("payload", err)
	}
	return nil
}

// Skip discards the next n payload bytes of the current frame (one
// artifact of a batch); it refuses to skip past the frame.
func (r *Reader) Skip(n uint64) error {
	if r.err != nil {
		return r.err
	}
	if n > r.pending {
		return fmt.Errorf("%w: skipping %d payload bytes, %d left in frame", ErrMalformed, n, r.pending)
	}
	for n > 0 {
		d, err := r.br.Discard(int(min(n, 1<<20)))
		r.pending -= uint64(d)
		n -= uint64(d)
		if err != nil {
			return truncated("payload", err)
		}
	}
	return nil
}

// Discard skips the rest of the current frame's payload.
func (r *Reader) Discard() error { return r.Skip(r.pending) }

// CopyPayload writes the rest of the current frame's payload to w
// (streamed through the read buffer, never held whole).
func (r *Reader) CopyPayload(w io.Writer) (int64, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := io.CopyN(w, countingReader{r}, int64(r.pending))
	if err != nil {
		return n, fmt.Errorf("frame: copying payload: %w", err)
	}
	return n, nil
}

// countingReader reads the current payload through r.br, counting what it
// consumes.
type countingReader struct{ r *Reader }

func (c countingReader) Read(p []byte) (int, error) {
	if uint64(len(p)) > c.r.pending {
		p = p[:c.r.pending]
	}
	n, err := c.r.br.Read(p)
	c.r.pending -= uint64(n)
	return n, err
}

// peek waits until the next frame's first byte has arrived, consuming
// nothing, after discarding what is left of the current payload: a
// deadline that fires here leaves the stream at a frame boundary.
func (r *Reader) peek() error {
	if err := r.Discard(); err != nil {
		return err
	}
	_, err := r.br.Peek(1)
	return err
}

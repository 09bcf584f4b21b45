package native

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/stratacache/stratacache/messages"
)

// The frame prefix: 'S' 'C', version, flags (0), header length (uint32 LE),
// payload length (uint64 LE).
const (
	PrefixSize = 16
	Magic0     = 'S'
	Magic1     = 'C'
	Version    = 1
)

// MissLength in an MGET reply's payload_lengths marks an artifact that was
// not found (no payload bytes follow for it).
const MissLength = math.MaxUint64

// Errors of the frame codec. Every one of them means the stream can no
// longer be trusted: the connection is closed after an error reply.
var (
	ErrBadMagic   = errors.New("native: bad magic")
	ErrBadVersion = errors.New("native: unsupported protocol version")
	ErrTooLarge   = errors.New("native: frame over the limit")
	ErrMalformed  = errors.New("native: malformed frame")
)

// Limits bound one frame; they are checked on the prefix, before any buffer
// for the header or the payload is allocated.
type Limits struct {
	MaxHeader  int   // encoded FrameHeader bytes
	MaxPayload int64 // one artifact's payload
	MaxRequest int64 // a frame's whole payload (all artifacts of a batch)
	MaxBatch   int   // ids of one frame
}

// DefaultLimits: 64 MiB artifacts, 256 MiB frames, 4096 ids, 16 MiB headers
// (4096 ids of the longest key fit).
func DefaultLimits() Limits {
	return Limits{MaxHeader: 16 << 20, MaxPayload: 64 << 20, MaxRequest: 256 << 20, MaxBatch: 4096}
}

func (l *Limits) ensureDefaults() {
	d := DefaultLimits()
	if l.MaxHeader <= 0 {
		l.MaxHeader = d.MaxHeader
	}
	if l.MaxPayload <= 0 {
		l.MaxPayload = d.MaxPayload
	}
	if l.MaxRequest <= 0 {
		l.MaxRequest = max(d.MaxRequest, l.MaxPayload)
	}
	if l.MaxBatch <= 0 {
		l.MaxBatch = d.MaxBatch
	}
}

// Prefix is a decoded frame prefix.
type Prefix struct {
	Version    uint8
	Flags      uint8
	HeaderLen  uint32
	PayloadLen uint64
}

// AppendPrefix appends a frame prefix to dst.
func AppendPrefix(dst []byte, headerLen int, payloadLen uint64) []byte {
	dst = append(dst, Magic0, Magic1, Version, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(headerLen))
	return binary.LittleEndian.AppendUint64(dst, payloadLen)
}

// ParsePrefix decodes and checks a prefix against lim.
func ParsePrefix(b []byte, lim Limits) (Prefix, error) {
	if len(b) < PrefixSize {
		return Prefix{}, fmt.Errorf("%w: short prefix", ErrMalformed)
	}
	if b[0] != Magic0 || b[1] != Magic1 {
		return Prefix{}, fmt.Errorf("%w: %#02x %#02x", ErrBadMagic, b[0], b[1])
	}
	p := Prefix{
		Version:    b[2],
		Flags:      b[3],
		HeaderLen:  binary.LittleEndian.Uint32(b[4:8]),
		PayloadLen: binary.LittleEndian.Uint64(b[8:16]),
	}
	if p.Version != Version {
		return p, fmt.Errorf("%w: %d (this node speaks %d)", ErrBadVersion, p.Version, Version)
	}
	if p.Flags != 0 {
		return p, fmt.Errorf("%w: unknown flags %#02x", ErrMalformed, p.Flags)
	}
	if p.HeaderLen == 0 || int64(p.HeaderLen) > int64(lim.MaxHeader) {
		return p, fmt.Errorf("%w: header of %d bytes (max %d)", ErrTooLarge, p.HeaderLen, lim.MaxHeader)
	}
	if p.PayloadLen > uint64(lim.MaxRequest) {
		return p, fmt.Errorf("%w: payload of %d bytes (max %d)", ErrTooLarge, p.PayloadLen, lim.MaxRequest)
	}
	return p, nil
}

// CheckHeader checks a decoded header against its prefix and lim: the
// payload lengths it declares add up to the prefix's, no single payload is
// over the limit, and the batch is not too long. MGET replies (which mark
// misses with MissLength) are checked by the client, not here.
func CheckHeader(h *messages.FrameHeader, p Prefix, lim Limits) error {
	if len(h.GetIds()) > lim.MaxBatch {
		return fmt.Errorf("%w: %d ids (max %d)", ErrTooLarge, len(h.GetIds()), lim.MaxBatch)
	}
	if len(h.GetPayloadLengths()) > lim.MaxBatch || len(h.GetMetas()) > lim.MaxBatch {
		return fmt.Errorf("%w: batch over %d entries", ErrTooLarge, lim.MaxBatch)
	}
	switch h.GetOp() {
	case messages.Op_OP_MPUT:
		if len(h.GetPayloadLengths()) != len(h.GetIds()) {
			return fmt.Errorf("%w: %d payload lengths for %d ids", ErrMalformed, len(h.GetPayloadLengths()), len(h.GetIds()))
		}
		var sum uint64
		for _, n := range h.GetPayloadLengths() {
			if n > uint64(lim.MaxPayload) {
				return fmt.Errorf("%w: payload of %d bytes (max %d)", ErrTooLarge, n, lim.MaxPayload)
			}
			sum += n // no overflow: each term is at most MaxPayload, at most MaxBatch terms
		}
		if sum != p.PayloadLen {
			return fmt.Errorf("%w: payload lengths add to %d, frame carries %d", ErrMalformed, sum, p.PayloadLen)
		}
	default:
		if h.GetPayloadLength() != p.PayloadLen {
			return fmt.Errorf("%w: header says %d payload bytes, prefix %d", ErrMalformed, h.GetPayloadLength(), p.PayloadLen)
		}
		if h.GetOp() == messages.Op_OP_PUT && p.PayloadLen > uint64(lim.MaxPayload) {
			return fmt.Errorf("%w: payload of %d bytes (max %d)", ErrTooLarge, p.PayloadLen, lim.MaxPayload)
		}
	}
	return nil
}

// FrameReader reads frames: prefix and header at once, the payload
// afterwards by the caller (streamed into its final buffer, or skipped).
// It is not safe for concurrent use.
type FrameReader struct {
	r         io.Reader
	lim       Limits
	prefix    [PrefixSize]byte
	buf       []byte
	Header    messages.FrameHeader
	unmarshal proto.UnmarshalOptions
}

// maxKeptHeader is the header buffer a connection keeps between frames.
const maxKeptHeader = 64 << 10

// NewFrameReader reads frames from r (buffer it: frames are read in small
// pieces) within lim.
func NewFrameReader(r io.Reader, lim Limits) *FrameReader {
	lim.ensureDefaults()
	return &FrameReader{r: r, lim: lim}
}

// Next reads the next prefix and header into fr.Header. io.EOF means a clean
// end between frames. The payload (Prefix.PayloadLen bytes) must be consumed
// with ReadPayload or Discard before the next call.
func (fr *FrameReader) Next() (Prefix, error) {
	fr.Header.Reset() // an error before the header leaves request id 0, not the last one
	if _, err := io.ReadFull(fr.r, fr.prefix[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Prefix{}, fmt.Errorf("%w: truncated prefix", ErrMalformed)
		}
		return Prefix{}, err
	}
	p, err := ParsePrefix(fr.prefix[:], fr.lim)
	if err != nil {
		return p, err
	}
	if cap(fr.buf) > maxKeptHeader && int(p.HeaderLen) <= maxKeptHeader {
		fr.buf = nil
	}
	if cap(fr.buf) < int(p.HeaderLen) {
		fr.buf = make([]byte, p.HeaderLen)
	}
	fr.buf = fr.buf[:p.HeaderLen]
	if _, err := io.ReadFull(fr.r, fr.buf); err != nil {
		return p, fmt.Errorf("%w: truncated header: %w", ErrMalformed, err)
	}
	if err := fr.unmarshal.Unmarshal(fr.buf, &fr.Header); err != nil {
		return p, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	if err := CheckHeader(&fr.Header, p, fr.lim); err != nil {
		return p, err
	}
	return p, nil
}

// ReadPayload fills dst from the stream.
func (fr *FrameReader) ReadPayload(dst []byte) error {
	if _, err := io.ReadFull(fr.r, dst); err != nil {
		return fmt.Errorf("%w: truncated payload: %w", ErrMalformed, err)
	}
	return nil
}

// Discard skips n payload bytes.
func (fr *FrameReader) Discard(n int64) error {
	if _, err := io.CopyN(io.Discard, fr.r, n); err != nil {
		return fmt.Errorf("%w: truncated payload: %w", ErrMalformed, err)
	}
	return nil
}

// AppendFrameHead appends prefix and encoded header for a frame carrying
// payloadLen payload bytes; the payload is written after it separately.
func AppendFrameHead(dst []byte, h *messages.FrameHeader, payloadLen uint64) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, PrefixSize)...)
	dst, err := proto.MarshalOptions{}.MarshalAppend(dst, h)
	if err != nil {
		return dst[:start], fmt.Errorf("native: encode header: %w", err)
	}
	AppendPrefix(dst[start:start], len(dst)-start-PrefixSize, payloadLen)
	return dst, nil
}

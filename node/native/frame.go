package native

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/messages/frame"
)

// The frame layout is messages/frame's (shared with clientsdk and the
// cluster's peer transport): a 32-byte prefix (magic "STRC", version,
// header length, payload length, request id), the protobuf FrameHeader,
// the raw payload. This file adds the node's own limits on top of it.
const (
	PrefixSize = frame.PrefixLen
	Version    = frame.Version
)

// MissingAttr names the MGET reply attribute that lists, comma separated
// and ascending, the indices of the ids that were not found (their
// payload_lengths entries are 0 and no bytes follow for them).
const MissingAttr = "missing"

// Errors of the frame codec. Every one of them means the stream can no
// longer be trusted: the connection is closed after an error reply. They
// are messages/frame's, so errors.Is works with either package's names.
var (
	ErrBadMagic   = frame.ErrBadMagic
	ErrBadVersion = frame.ErrBadVersion
	ErrTooLarge   = frame.ErrTooLarge
	ErrMalformed  = frame.ErrMalformed
)

// Limits bound one frame; they are checked on the prefix, before any buffer
// for the header or the payload is allocated, and then on the header.
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

func (l Limits) frameLimits() frame.Limits {
	return frame.Limits{MaxHeaderBytes: uint32(min(l.MaxHeader, 1<<31)), MaxPayloadBytes: uint64(l.MaxRequest)}
}

// Prefix is a decoded frame prefix.
type Prefix = frame.Prefix

// ParsePrefix decodes and checks a prefix against lim.
func ParsePrefix(b []byte, lim Limits) (Prefix, error) {
	return frame.ParsePrefix(b, lim.frameLimits())
}

// CheckHeader checks a decoded header against its prefix (messages/frame's
// rules: the same request id, payload lengths adding up to the prefix's)
// and against lim: batch length, and no single payload over the limit.
func CheckHeader(h *messages.FrameHeader, p Prefix, lim Limits) error {
	if err := frame.Check(p, h); err != nil {
		return err
	}
	if len(h.GetIds()) > lim.MaxBatch {
		return fmt.Errorf("%w: %d ids (max %d)", ErrTooLarge, len(h.GetIds()), lim.MaxBatch)
	}
	if len(h.GetPayloadLengths()) > lim.MaxBatch || len(h.GetMetas()) > lim.MaxBatch {
		return fmt.Errorf("%w: batch over %d entries", ErrTooLarge, lim.MaxBatch)
	}
	for _, n := range h.GetPayloadLengths() {
		if n > uint64(lim.MaxPayload) {
			return fmt.Errorf("%w: payload of %d bytes (max %d)", ErrTooLarge, n, lim.MaxPayload)
		}
	}
	switch h.GetOp() {
	case messages.Op_OP_MPUT:
		if len(h.GetPayloadLengths()) != len(h.GetIds()) {
			return fmt.Errorf("%w: %d payload lengths for %d ids", ErrMalformed, len(h.GetPayloadLengths()), len(h.GetIds()))
		}
	case messages.Op_OP_PUT:
		if p.PayloadLen > uint64(lim.MaxPayload) {
			return fmt.Errorf("%w: payload of %d bytes (max %d)", ErrTooLarge, p.PayloadLen, lim.MaxPayload)
		}
	}
	return nil
}

// FrameReader is the server's frame reader: messages/frame's Reader (the
// one reader of the native protocol, shared with the clients) with the
// node's checks on top: the pre-HELLO bounds on the prefix, and the
// node's limits on each header (CheckHeader). The payload is read
// afterwards by the caller (streamed into its final buffer, or skipped).
// It is not safe for concurrent use.
type FrameReader struct {
	r      *frame.Reader
	lim    Limits
	Header messages.FrameHeader
	// preAuth: until the connection's HELLO is accepted a frame may carry
	// at most PreAuthMaxHeader header bytes and no payload, checked on the
	// prefix before anything is allocated.
	preAuth bool
}

// PreAuthMaxHeader bounds the header of a frame sent before HELLO
// succeeded (HELLO itself: token and attributes).
const PreAuthMaxHeader = 16 << 10

// NewFrameReader reads frames from r (a *bufio.Reader is used as it is)
// within lim.
func NewFrameReader(r io.Reader, lim Limits) *FrameReader {
	lim.ensureDefaults()
	return &FrameReader{r: frame.NewReader(r, lim.frameLimits()), lim: lim}
}

// reset reads from r from now on, between frames.
func (fr *FrameReader) reset(r io.Reader) { fr.r.Reset(r) }

// setReadFull reads payloads with f (the server arms a progress deadline
// per chunk there).
func (fr *FrameReader) setReadFull(f func(r io.Reader, dst []byte) error) { fr.r.SetReadFull(f) }

// Next reads the next prefix and header into fr.Header. io.EOF means a clean
// end between frames. The payload (Prefix.PayloadLen bytes) must be consumed
// with ReadPayload or Discard before the next call.
func (fr *FrameReader) Next() (Prefix, error) {
	lim := fr.lim.frameLimits()
	if fr.preAuth {
		lim = frame.Limits{MaxHeaderBytes: min(PreAuthMaxHeader, lim.MaxHeaderBytes), MaxPayloadBytes: 0}
	}
	fr.r.SetLimits(lim)
	p, err := fr.r.Next(&fr.Header)
	if err != nil {
		if fr.preAuth && errors.Is(err, ErrTooLarge) {
			err = fmt.Errorf("%w (before HELLO a frame carries at most %d header bytes and no payload)", err, PreAuthMaxHeader)
		}
		return p, err
	}
	return p, CheckHeader(&fr.Header, p, fr.lim)
}

// ReadPayload fills dst from the stream.
func (fr *FrameReader) ReadPayload(dst []byte) error { return fr.r.ReadPayload(dst) }

// Discard skips n payload bytes.
func (fr *FrameReader) Discard(n int64) error {
	if n < 0 {
		return fmt.Errorf("%w: discarding %d bytes", ErrMalformed, n)
	}
	return fr.r.Skip(uint64(n))
}

// AppendFrameHead appends prefix and encoded header for a frame carrying
// payloadLen payload bytes; the payload is written after it separately.
func AppendFrameHead(dst []byte, h *messages.FrameHeader, payloadLen uint64) ([]byte, error) {
	return frame.AppendHead(dst, h, payloadLen)
}

// formatMissing renders MGET's missing indices for MissingAttr.
func formatMissing(idx []int) string {
	var b strings.Builder
	for i, x := range idx {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(x))
	}
	return b.String()
}

// parseMissing reads MissingAttr: ascending indices below n.
func parseMissing(s string, n int) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > n {
		return nil, fmt.Errorf("%w: %d missing of %d ids", ErrMalformed, len(parts), n)
	}
	out := make([]int, len(parts))
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 || x >= n {
			return nil, fmt.Errorf("%w: missing index %q", ErrMalformed, p)
		}
		out[i] = x
	}
	if !sort.IntsAreSorted(out) {
		return nil, fmt.Errorf("%w: missing indices out of order", ErrMalformed)
	}
	return out, nil
}

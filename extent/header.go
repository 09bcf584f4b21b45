package extent

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/stratacache/stratacache/artifact"
)

// headerMagic starts every extent header.
const headerMagic uint32 = 0x58454353 // "SCEX"

// headerFixed is the fixed part of an extent header; the shape, the key and
// an 8-byte checksum follow it.
const headerFixed = 72

// GenerationOffset is where the generation sits in an extent header; a
// mapped pool zeroes it (8-byte aligned) when it frees the extent so that a
// read-only attacher notices reuse.
const GenerationOffset = 8

// MaxDims bounds the tensor shape kept in a header.
const MaxDims = 8

// HeaderAlign aligns the payload behind its header (a cache line).
const HeaderAlign = 64

// Header sits at the start of every extent, in front of the payload.
type Header struct {
	Generation uint64
	KeyHash    uint64
	Length     uint64
	Checksum   uint64 // xxhash64 of the payload
	Created    int64
	TTL        time.Duration
	Epoch      uint64
	Namespace  artifact.Namespace
	DType      artifact.DType
	Shape      []int64
	Key        []byte
}

// HeaderLen is the aligned size of the header of a key of keyLen bytes and
// a shape of dims dimensions: the payload starts this far into the extent.
func HeaderLen(keyLen, dims int) int {
	n := headerFixed + 8*dims + keyLen + 8
	return (n + HeaderAlign - 1) / HeaderAlign * HeaderAlign
}

// Encode writes h into dst, which must hold HeaderLen(len(h.Key),
// len(h.Shape)) bytes, and returns that length.
func (h *Header) Encode(dst []byte) (int, error) {
	if len(h.Shape) > MaxDims {
		return 0, fmt.Errorf("%w: %d dimensions > %d", ErrBadRecord, len(h.Shape), MaxDims)
	}
	if len(h.Key) > artifact.MaxKeyLen {
		return 0, fmt.Errorf("%w: key of %d bytes", ErrBadRecord, len(h.Key))
	}
	n := HeaderLen(len(h.Key), len(h.Shape))
	dst = dst[:n]
	le := binary.LittleEndian
	le.PutUint32(dst[0:], headerMagic)
	le.PutUint32(dst[4:], uint32(n))
	le.PutUint64(dst[8:], h.Generation)
	le.PutUint64(dst[16:], h.KeyHash)
	le.PutUint64(dst[24:], h.Length)
	le.PutUint64(dst[32:], h.Checksum)
	le.PutUint64(dst[40:], uint64(h.Created))
	le.PutUint64(dst[48:], uint64(h.TTL))
	le.PutUint64(dst[56:], h.Epoch)
	dst[64] = byte(h.Namespace)
	dst[65] = byte(h.DType)
	dst[66] = byte(len(h.Shape))
	dst[67] = 0
	le.PutUint16(dst[68:], uint16(len(h.Key)))
	le.PutUint16(dst[70:], 0)
	p := headerFixed
	for _, d := range h.Shape {
		le.PutUint64(dst[p:], uint64(d))
		p += 8
	}
	p += copy(dst[p:], h.Key)
	le.PutUint64(dst[p:], xxhash.Sum64(dst[:p]))
	clear(dst[p+8:])
	return n, nil
}

// DecodeHeader parses the header at the start of src and checks its
// checksum. Key aliases src; the caller copies it to keep it.
func DecodeHeader(src []byte) (Header, int, error) {
	le := binary.LittleEndian
	if len(src) < headerFixed+8 {
		return Header{}, 0, fmt.Errorf("%w: header truncated", ErrBadRecord)
	}
	if le.Uint32(src) != headerMagic {
		return Header{}, 0, fmt.Errorf("%w: extent header magic", ErrBadRecord)
	}
	n := int(le.Uint32(src[4:]))
	dims := int(src[66])
	keyLen := int(le.Uint16(src[68:]))
	if dims > MaxDims || keyLen > artifact.MaxKeyLen || n != HeaderLen(keyLen, dims) || n > len(src) {
		return Header{}, 0, fmt.Errorf("%w: extent header bounds", ErrBadRecord)
	}
	p := headerFixed + 8*dims + keyLen
	if got, sum := le.Uint64(src[p:]), xxhash.Sum64(src[:p]); got != sum {
		return Header{}, 0, fmt.Errorf("%w: extent header checksum", ErrBadRecord)
	}
	h := Header{
		Generation: le.Uint64(src[8:]),
		KeyHash:    le.Uint64(src[16:]),
		Length:     le.Uint64(src[24:]),
		Checksum:   le.Uint64(src[32:]),
		Created:    int64(le.Uint64(src[40:])),
		TTL:        time.Duration(le.Uint64(src[48:])),
		Epoch:      le.Uint64(src[56:]),
		Namespace:  artifact.Namespace(src[64]),
		DType:      artifact.DType(src[65]),
	}
	if dims > 0 {
		h.Shape = make([]int64, dims)
		for i := range h.Shape {
			h.Shape[i] = int64(le.Uint64(src[headerFixed+8*i:]))
		}
	}
	h.Key = src[headerFixed+8*dims : p]
	return h, n, nil
}

package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Magic opens every frame: "STRC".
const Magic uint32 = 0x53545243

// Version is the protocol version this package writes and reads.
const Version uint8 = 1

// PrefixLen is the size of the fixed prefix:
//
//	offset size field
//	0      4    magic "STRC" (big-endian 0x53545243)
//	4      1    version (1)
//	5      1    flags (0; reserved)
//	6      2    reserved (0)
//	8      4    header length, little-endian uint32
//	12     4    reserved (0)
//	16     8    payload length, little-endian uint64 (all payload bytes)
//	24     8    request id, little-endian uint64 (equal to the header's)
const PrefixLen = 32

// Errors of malformed or refused frames. A reader that returns one of them
// has lost framing: the connection must be closed after an error reply.
var (
	ErrBadMagic   = errors.New("frame: bad magic")
	ErrBadVersion = errors.New("frame: unsupported version")
	ErrTooLarge   = errors.New("frame: length over limit")
	ErrMalformed  = errors.New("frame: malformed")
)

// Limits bound what a reader accepts; lengths over them are refused before
// anything is allocated.
type Limits struct {
	MaxHeaderBytes  uint32
	MaxPayloadBytes uint64
}

// DefaultLimits accept 1 MiB headers (a batch of thousands of ids) and
// 1 GiB of payload per frame (a batch of 16 MiB chunks).
func DefaultLimits() Limits {
	return Limits{MaxHeaderBytes: 1 << 20, MaxPayloadBytes: 1 << 30}
}

// Prefix is the decoded fixed part of a frame.
type Prefix struct {
	Version    uint8
	Flags      uint8
	HeaderLen  uint32
	PayloadLen uint64
	RequestID  uint64
}

// AppendPrefix appends the 32-byte prefix to dst.
func AppendPrefix(dst []byte, p Prefix) []byte {
	dst = binary.BigEndian.AppendUint32(dst, Magic)
	v := p.Version
	if v == 0 {
		v = Version
	}
	dst = append(dst, v, p.Flags, 0, 0)
	dst = binary.LittleEndian.AppendUint32(dst, p.HeaderLen)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, p.PayloadLen)
	dst = binary.LittleEndian.AppendUint64(dst, p.RequestID)
	return dst
}

// ParsePrefix decodes and checks a prefix (b must hold PrefixLen bytes).
func ParsePrefix(b []byte, lim Limits) (Prefix, error) {
	if len(b) < PrefixLen {
		return Prefix{}, fmt.Errorf("%w: prefix of %d bytes", ErrMalformed, len(b))
	}
	if m := binary.BigEndian.Uint32(b[0:4]); m != Magic {
		return Prefix{}, fmt.Errorf("%w: %#08x", ErrBadMagic, m)
	}
	p := Prefix{
		Version:    b[4],
		Flags:      b[5],
		HeaderLen:  binary.LittleEndian.Uint32(b[8:12]),
		PayloadLen: binary.LittleEndian.Uint64(b[16:24]),
		RequestID:  binary.LittleEndian.Uint64(b[24:32]),
	}
	if p.Version != Version {
		return p, fmt.Errorf("%w: %d (this node speaks %d)", ErrBadVersion, p.Version, Version)
	}
	if p.Flags != 0 {
		return p, fmt.Errorf("%w: unknown flags %#02x", ErrMalformed, p.Flags)
	}
	if p.HeaderLen > lim.MaxHeaderBytes {
		return p, fmt.Errorf("%w: header %d bytes > %d", ErrTooLarge, p.HeaderLen, lim.MaxHeaderBytes)
	}
	if p.PayloadLen > lim.MaxPayloadBytes {
		return p, fmt.Errorf("%w: payload %d bytes > %d", ErrTooLarge, p.PayloadLen, lim.MaxPayloadBytes)
	}
	return p, nil
}

package frame

import (
	"fmt"
	"io"
	"net"

	"google.golang.org/protobuf/proto"

	"github.com/stratacache/stratacache/messages"
)

// AppendHead appends a frame's prefix and marshalled header to dst; the
// payload (payloadLen bytes) must follow it on the stream. It sets
// hdr.PayloadLength when the header has no per-artifact lengths.
func AppendHead(dst []byte, hdr *messages.FrameHeader, payloadLen uint64) ([]byte, error) {
	if len(hdr.PayloadLengths) == 0 {
		hdr.PayloadLength = payloadLen
	}
	start := len(dst)
	dst = AppendPrefix(dst, Prefix{PayloadLen: payloadLen, RequestID: hdr.RequestId})
	var err error
	dst, err = proto.MarshalOptions{}.MarshalAppend(dst, hdr)
	if err != nil {
		return dst[:start], fmt.Errorf("frame: marshal header: %w", err)
	}
	hlen := len(dst) - start - PrefixLen
	// Patch the header length into the prefix now that it is known.
	b := dst[start+8 : start+12]
	b[0], b[1], b[2], b[3] = byte(hlen), byte(hlen>>8), byte(hlen>>16), byte(hlen>>24)
	if err := Check(Prefix{PayloadLen: payloadLen, RequestID: hdr.RequestId}, hdr); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// Write writes one frame: head (from AppendHead into scratch) then the
// payload slices, with one writev on a net.Conn and no payload copy.
// It returns the scratch buffer for reuse.
func Write(w io.Writer, scratch []byte, hdr *messages.FrameHeader, payload ...[]byte) ([]byte, error) {
	var n uint64
	for _, p := range payload {
		n += uint64(len(p))
	}
	head, err := AppendHead(scratch[:0], hdr, n)
	if err != nil {
		return scratch, err
	}
	if len(payload) == 0 {
		_, err = w.Write(head)
		return head, err
	}
	bufs := make(net.Buffers, 0, 1+len(payload))
	bufs = append(bufs, head)
	bufs = append(bufs, payload...)
	_, err = bufs.WriteTo(w)
	return head, err
}

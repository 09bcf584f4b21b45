package native

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/messages/frame"
)

func seedFrames() [][]byte {
	id := messages.IDToProto(kv("seed"))
	var seeds [][]byte
	for _, h := range []*messages.FrameHeader{
		{Op: messages.Op_OP_HELLO, RequestId: 1, AuthToken: []byte("t"), Attrs: map[string]string{"version": "1"}},
		{Op: messages.Op_OP_GET, RequestId: 2, Ids: []*messages.ArtifactID{id}},
		{Op: messages.Op_OP_PUT, RequestId: 3, Ids: []*messages.ArtifactID{id}, PayloadLength: 4},
		{Op: messages.Op_OP_MPUT, RequestId: 4, Ids: []*messages.ArtifactID{id, id}, PayloadLengths: []uint64{1, 3}},
		{Op: messages.Op_OP_MGET, RequestId: 5, Ids: []*messages.ArtifactID{id, id}},
	} {
		n := h.GetPayloadLength()
		for _, l := range h.GetPayloadLengths() {
			n += l
		}
		b, _ := AppendFrameHead(nil, h, n)
		seeds = append(seeds, append(b, bytes.Repeat([]byte{'p'}, int(n))...))
	}
	return append(seeds, []byte("SC"), frame.AppendPrefix(nil, frame.Prefix{HeaderLen: 1 << 31, PayloadLen: 1 << 62}), []byte("*1\r\n$4\r\nPING\r\n"))
}

// FuzzFrameReader decodes arbitrary bytes as a frame stream within small
// limits: it must never panic, never allocate past the limits, and every
// frame it accepts must satisfy them.
func FuzzFrameReader(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s)
	}
	lim := Limits{MaxHeader: 4096, MaxPayload: 1024, MaxRequest: 2048, MaxBatch: 8}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := NewFrameReader(bytes.NewReader(data), lim)
		for range 64 {
			p, err := fr.Next()
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) ||
					errors.Is(err, ErrBadMagic) || errors.Is(err, ErrBadVersion) {
					return
				}
				t.Fatalf("unexpected error class: %v", err)
			}
			if int(p.HeaderLen) > lim.MaxHeader || p.PayloadLen > uint64(lim.MaxRequest) || len(fr.Header.GetIds()) > lim.MaxBatch {
				t.Fatalf("frame over the limits accepted: %+v", p)
			}
			if fr.Discard(int64(p.PayloadLen)) != nil {
				return
			}
		}
	})
}

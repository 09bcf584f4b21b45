package frame

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/stratacache/stratacache/messages"
)

func hdr(id uint64, op messages.Op) *messages.FrameHeader {
	return &messages.FrameHeader{RequestId: id, Op: op,
		Ids: []*messages.ArtifactID{{Namespace: messages.Namespace_NAMESPACE_KV, Key: []byte("k")}}}
}

func TestRoundTripPipelined(t *testing.T) {
	var buf bytes.Buffer
	var scratch []byte
	var err error
	p1 := bytes.Repeat([]byte("a"), 1000)
	if scratch, err = Write(&buf, scratch, hdr(1, messages.Op_OP_PUT), p1); err != nil {
		t.Fatal(err)
	}
	b := &messages.FrameHeader{RequestId: 2, Op: messages.Op_OP_MPUT, PayloadLengths: []uint64{3, 4}}
	if _, err = Write(&buf, scratch, b, []byte("xyz"), []byte("1234")); err != nil {
		t.Fatal(err)
	}
	if _, err = Write(&buf, scratch, hdr(3, messages.Op_OP_PING)); err != nil {
		t.Fatal(err)
	}
	r := NewReader(&buf, DefaultLimits())
	var h messages.FrameHeader
	p, err := r.Next(&h)
	if err != nil || p.RequestID != 1 || h.Op != messages.Op_OP_PUT || p.PayloadLen != 1000 {
		t.Fatalf("%+v %v", p, err)
	}
	got := make([]byte, 1000)
	if err := r.ReadPayload(got); err != nil || !bytes.Equal(got, p1) {
		t.Fatal(err)
	}
	p, err = r.Next(&h)
	if err != nil || p.RequestID != 2 || len(h.PayloadLengths) != 2 {
		t.Fatal(err)
	}
	// Skip the payload: Next discards it.
	p, err = r.Next(&h)
	if err != nil || p.RequestID != 3 || h.Op != messages.Op_OP_PING || len(h.Ids) != 1 {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := r.Next(&h); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
}

func TestRefusals(t *testing.T) {
	good, _ := AppendHead(nil, hdr(9, messages.Op_OP_GET), 0)
	lim := DefaultLimits()
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"magic":     {append([]byte("XTRC"), good[4:]...), ErrBadMagic},
		"version":   {func() []byte { b := append([]byte(nil), good...); b[4] = 9; return b }(), ErrBadVersion},
		"header":    {AppendPrefix(nil, Prefix{HeaderLen: lim.MaxHeaderBytes + 1}), ErrTooLarge},
		"payload":   {AppendPrefix(nil, Prefix{PayloadLen: lim.MaxPayloadBytes + 1}), ErrTooLarge},
		"truncated": {good[:len(good)-1], ErrMalformed},
		"prefix":    {good[:10], ErrMalformed},
		"reqid":     {func() []byte { b := append([]byte(nil), good...); b[24] = 7; return b }(), ErrMalformed},
		"garbage":   {append(AppendPrefix(nil, Prefix{HeaderLen: 4}), 0xff, 0xff, 0xff, 0xff), ErrMalformed},
	}
	for name, c := range cases {
		var h messages.FrameHeader
		_, err := NewReader(bytes.NewReader(c.b), lim).Next(&h)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	// A payload shorter than announced is a truncation, not a hang.
	b, _ := AppendHead(nil, hdr(1, messages.Op_OP_PUT), 10)
	b = append(b, "short"...)
	r := NewReader(bytes.NewReader(b), lim)
	var h messages.FrameHeader
	if _, err := r.Next(&h); err != nil {
		t.Fatal(err)
	}
	if err := r.ReadPayload(make([]byte, 10)); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
	if err := r.ReadPayload(make([]byte, 11)); !errors.Is(err, ErrMalformed) {
		t.Fatal("read past the frame allowed")
	}
}

func TestBatchLengthsMustAddUp(t *testing.T) {
	h := &messages.FrameHeader{RequestId: 1, PayloadLengths: []uint64{1, 2}}
	b := AppendPrefix(nil, Prefix{PayloadLen: 4, RequestID: 1})
	hb, _ := proto.Marshal(h)
	b[8] = byte(len(hb))
	b = append(b, hb...)
	b = append(b, 1, 2, 3, 4)
	var got messages.FrameHeader
	if _, err := NewReader(bytes.NewReader(b), DefaultLimits()).Next(&got); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
}

// FuzzReader: no input makes the reader panic or allocate past its limits.
func FuzzReader(f *testing.F) {
	good, _ := AppendHead(nil, hdr(5, messages.Op_OP_PUT), 3)
	f.Add(append(good, 1, 2, 3))
	f.Add([]byte("STRC"))
	f.Add(AppendPrefix(nil, Prefix{HeaderLen: 1 << 30}))
	lim := Limits{MaxHeaderBytes: 4096, MaxPayloadBytes: 1 << 16}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b), lim)
		var h messages.FrameHeader
		for i := 0; i < 8; i++ {
			p, err := r.Next(&h)
			if err != nil {
				return
			}
			if p.HeaderLen > lim.MaxHeaderBytes || p.PayloadLen > lim.MaxPayloadBytes {
				t.Fatalf("limits not enforced: %+v", p)
			}
			buf := make([]byte, min(p.PayloadLen, 1024))
			if err := r.ReadPayload(buf); err != nil {
				return
			}
		}
	})
}

func BenchmarkWriteRead4M(b *testing.B) {
	payload := make([]byte, 4<<20)
	var buf bytes.Buffer
	dst := make([]byte, 4<<20)
	var scratch []byte
	h := hdr(1, messages.Op_OP_PUT)
	var got messages.FrameHeader
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf.Reset()
		scratch, _ = Write(&buf, scratch, h, payload)
		r := NewReader(&buf, DefaultLimits())
		if _, err := r.Next(&got); err != nil {
			b.Fatal(err)
		}
		if err := r.ReadPayload(dst); err != nil {
			b.Fatal(err)
		}
	}
}

package messages

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/stratacache/stratacache/artifact"
)

// FuzzUnmarshalArtifactID feeds arbitrary bytes through proto.Unmarshal and
// IDFromProto: neither may panic, and whatever IDFromProto accepts must be a
// valid id that survives a second round trip unchanged.
func FuzzUnmarshalArtifactID(f *testing.F) {
	for _, id := range []artifact.ID{
		artifact.MustID(artifact.NamespaceKV, "m@0000000000000001/L0"),
		artifact.MustID(artifact.NamespaceBlob, "x"),
	} {
		b, err := proto.Marshal(IDToProto(id))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x10, 0x09, 0x1a, 0x01, 'k'})                                      // namespace 9
	f.Add([]byte{0x08, 0x01, 0x10, 0x03, 0x1a, 0x01, 'k'})                          // forged hash 1
	f.Add([]byte{0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f})                               // key length past the input
	f.Add([]byte{0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}) // namespace -1
	f.Fuzz(func(t *testing.T, data []byte) {
		var p ArtifactID
		if err := proto.Unmarshal(data, &p); err != nil {
			return
		}
		_, _ = IDFromProtoTrusted(&p)
		id, err := IDFromProto(&p)
		if err != nil {
			if !errors.Is(err, ErrHashMismatch) && !errors.Is(err, artifact.ErrUnknownNamespace) &&
				!errors.Is(err, artifact.ErrEmptyKey) && !errors.Is(err, artifact.ErrKeyTooLong) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if err := id.Validate(); err != nil {
			t.Fatalf("accepted an invalid id %v: %v", id, err)
		}
		b, err := proto.Marshal(IDToProto(id))
		if err != nil {
			t.Fatal(err)
		}
		var q ArtifactID
		if err := proto.Unmarshal(b, &q); err != nil {
			t.Fatal(err)
		}
		again, err := IDFromProto(&q)
		if err != nil || !again.Equal(id) {
			t.Fatalf("second round trip: %v, %v; want %v", again, err, id)
		}
	})
}

// FuzzUnmarshalFrameHeader feeds arbitrary bytes to the frame-header decoder
// and the conversions a node applies to it: nothing may panic, and a header
// that decodes must re-encode to an equal header.
func FuzzUnmarshalFrameHeader(f *testing.F) {
	seeds := []*FrameHeader{
		{RequestId: 1, Op: Op_OP_HELLO, AuthToken: []byte("secret"), Attrs: map[string]string{"version": "1"}},
		{
			RequestId:     2,
			Op:            Op_OP_PUT,
			Ids:           []*ArtifactID{IDToProto(artifact.MustID(artifact.NamespaceKV, "m@0000000000000001/all"))},
			Meta:          MetaToProto(artifact.Meta{Length: 8, DType: artifact.DTypeF32, Shape: []int64{2}}),
			PayloadLength: 8,
		},
		{
			RequestId: 3,
			Op:        Op_OP_MPUT,
			Ids: []*ArtifactID{
				IDToProto(artifact.MustID(artifact.NamespaceBlob, "a")),
				IDToProto(artifact.MustID(artifact.NamespaceBlob, "b")),
			},
			Metas:          []*Metadata{{Length: 1}, {Length: 2}},
			PayloadLengths: []uint64{1, 2},
		},
		{RequestId: 4, Op: Op_OP_ERROR, ErrorCode: "not_found", Error: "artifact not found"},
	}
	for _, h := range seeds {
		b, err := proto.Marshal(h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x10, 0x40})                         // op 64, a reserved cluster op
	f.Add([]byte{0x52, 0x04, 0x0a, 0x02, 0xc3, 0x28}) // attrs key with invalid UTF-8
	f.Add([]byte{0xf8, 0x01, 0x01})                   // field 31, unknown
	f.Fuzz(func(t *testing.T, data []byte) {
		var h FrameHeader
		if err := proto.Unmarshal(data, &h); err != nil {
			return
		}
		for _, p := range h.GetIds() {
			_, _ = IDFromProto(p)
		}
		if h.GetMeta() != nil {
			_, _ = MetaFromProto(h.GetMeta())
		}
		for _, m := range h.GetMetas() {
			_, _ = MetaFromProto(m)
		}
		b, err := proto.Marshal(&h)
		if err != nil {
			t.Fatalf("decoded header does not re-encode: %v", err)
		}
		var again FrameHeader
		if err := proto.Unmarshal(b, &again); err != nil {
			t.Fatalf("re-encoded header does not decode: %v", err)
		}
		if !proto.Equal(&h, &again) {
			t.Fatalf("re-encoded header differs:\n%v\n%v", &h, &again)
		}
	})
}

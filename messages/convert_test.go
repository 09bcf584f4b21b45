package messages

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/stratacache/stratacache/artifact"
)

func TestEnumNumbersMatchArtifact(t *testing.T) {
	ns := map[Namespace]artifact.Namespace{
		Namespace_NAMESPACE_UNSPECIFIED: artifact.NamespaceInvalid,
		Namespace_NAMESPACE_KV:          artifact.NamespaceKV,
		Namespace_NAMESPACE_PARAM:       artifact.NamespaceParam,
		Namespace_NAMESPACE_BLOB:        artifact.NamespaceBlob,
	}
	for p, a := range ns {
		if int32(p) != int32(a) {
			t.Errorf("%v = %d, artifact %v = %d", p, int32(p), a, a)
		}
	}
	dt := []struct {
		p DType
		a artifact.DType
	}{
		{DType_DTYPE_NONE, artifact.DTypeNone},
		{DType_DTYPE_F32, artifact.DTypeF32},
		{DType_DTYPE_F16, artifact.DTypeF16},
		{DType_DTYPE_BF16, artifact.DTypeBF16},
		{DType_DTYPE_F8E4M3, artifact.DTypeF8E4M3},
		{DType_DTYPE_F8E5M2, artifact.DTypeF8E5M2},
		{DType_DTYPE_I8, artifact.DTypeI8},
		{DType_DTYPE_U8, artifact.DTypeU8},
		{DType_DTYPE_I32, artifact.DTypeI32},
	}
	if len(dt) != len(DType_name) {
		t.Fatalf("DType has %d values, test covers %d", len(DType_name), len(dt))
	}
	for _, c := range dt {
		if int32(c.p) != int32(c.a) {
			t.Errorf("%v = %d, artifact dtype %d", c.p, int32(c.p), c.a)
		}
	}
}

func TestIDRoundTripThroughWireBytes(t *testing.T) {
	ids := []artifact.ID{
		artifact.MustID(artifact.NamespaceKV, "llama@00000000000000ff/L3"),
		artifact.MustID(artifact.NamespaceParam, "llama/w_q#7"),
		artifact.MustID(artifact.NamespaceBlob, "\x00binary\xff"),
		artifact.MustID(artifact.NamespaceBlob, strings.Repeat("k", artifact.MaxKeyLen)),
	}
	for _, id := range ids {
		b, err := proto.Marshal(IDToProto(id))
		if err != nil {
			t.Fatal(err)
		}
		var p ArtifactID
		if err := proto.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		got, err := IDFromProto(&p)
		if err != nil {
			t.Fatalf("%v: %v", id, err)
		}
		if !got.Equal(id) {
			t.Errorf("round trip: got %v, want %v", got, id)
		}
		trusted, err := IDFromProtoTrusted(&p)
		if err != nil || !trusted.Equal(id) {
			t.Errorf("trusted round trip: got %v, %v; want %v", trusted, err, id)
		}
	}
}

func TestIDFromProtoComputesMissingHash(t *testing.T) {
	want := artifact.MustID(artifact.NamespaceKV, "m@0000000000000001/all")
	got, err := IDFromProto(&ArtifactID{Namespace: Namespace_NAMESPACE_KV, Key: want.Key})
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash != want.Hash {
		t.Errorf("hash %016x, want %016x", got.Hash, want.Hash)
	}
}

func TestIDFromProtoRejects(t *testing.T) {
	good := artifact.MustID(artifact.NamespaceBlob, "k")
	cases := []struct {
		name string
		p    *ArtifactID
		want error
	}{
		{"nil", nil, ErrNilID},
		{"unspecified namespace", &ArtifactID{Key: []byte("k")}, artifact.ErrUnknownNamespace},
		{"unknown namespace", &ArtifactID{Namespace: 4, Key: []byte("k")}, artifact.ErrUnknownNamespace},
		{"namespace past uint8", &ArtifactID{Namespace: 257, Key: []byte("k")}, artifact.ErrUnknownNamespace},
		{"negative namespace", &ArtifactID{Namespace: -1, Key: []byte("k")}, artifact.ErrUnknownNamespace},
		{"empty key", &ArtifactID{Namespace: Namespace_NAMESPACE_BLOB}, artifact.ErrEmptyKey},
		{"long key", &ArtifactID{Namespace: Namespace_NAMESPACE_BLOB, Key: make([]byte, artifact.MaxKeyLen+1)}, artifact.ErrKeyTooLong},
		{"forged hash", &ArtifactID{Hash: good.Hash ^ 1, Namespace: Namespace_NAMESPACE_BLOB, Key: good.Key}, ErrHashMismatch},
		{"hash of other namespace", &ArtifactID{Hash: good.Hash, Namespace: Namespace_NAMESPACE_KV, Key: good.Key}, ErrHashMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := IDFromProto(c.p)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if id.Namespace != artifact.NamespaceInvalid || id.Key != nil || id.Hash != 0 {
				t.Errorf("failed conversion returned non-zero id %v", id)
			}
			if c.want == ErrHashMismatch {
				return // the trusted form keeps any hash
			}
			if _, err := IDFromProtoTrusted(c.p); !errors.Is(err, c.want) {
				t.Errorf("trusted: err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestIDFromProtoTrustedKeepsForcedHash(t *testing.T) {
	forced := artifact.WithHash(artifact.NamespaceKV, []byte("a"), 42)
	got, err := IDFromProtoTrusted(IDToProto(forced))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(forced) {
		t.Errorf("got %v, want %v", got, forced)
	}
	if _, err := IDFromProto(IDToProto(forced)); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("untrusted conversion accepted a forced hash: %v", err)
	}
}

func TestMetaRoundTripThroughWireBytes(t *testing.T) {
	metas := []artifact.Meta{
		{},
		{Length: 5, Checksum: artifact.Checksum([]byte("hello"))},
		{
			Length:   2 * 8 * 16 * 128 * 2,
			Checksum: 0xdeadbeefcafef00d,
			DType:    artifact.DTypeBF16,
			Shape:    []int64{1, 2, 16, 8, 128},
			Created:  1_700_000_000_000_000_000,
			Accessed: 1_700_000_000_500_000_000,
			Pins:     3,
			TTL:      90 * time.Second,
			Epoch:    7,
		},
	}
	for _, m := range metas {
		b, err := proto.Marshal(MetaToProto(m))
		if err != nil {
			t.Fatal(err)
		}
		var p Metadata
		if err := proto.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		got, err := MetaFromProto(&p)
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		if !metaEqual(got, m) {
			t.Errorf("round trip: got %+v, want %+v", got, m)
		}
	}
}

func TestMetaFromProtoCopiesShape(t *testing.T) {
	p := &Metadata{Dtype: DType_DTYPE_F16, Shape: []int64{4, 4}, Length: 32}
	m, err := MetaFromProto(p)
	if err != nil {
		t.Fatal(err)
	}
	p.Shape[0] = 99
	if m.Shape[0] != 4 {
		t.Errorf("meta shape aliases the message: %v", m.Shape)
	}
}

func TestMetaFromProtoRejects(t *testing.T) {
	cases := []struct {
		name string
		p    *Metadata
		want error
	}{
		{"nil", nil, ErrNilMeta},
		{"negative length", &Metadata{Length: -1}, ErrBadMeta},
		{"negative pins", &Metadata{Pins: -1}, ErrBadMeta},
		{"negative ttl", &Metadata{TtlNanos: -1}, ErrBadMeta},
		{"unknown dtype", &Metadata{Dtype: DType_DTYPE_I32 + 1}, ErrBadMeta},
		{"negative dtype", &Metadata{Dtype: -1}, ErrBadMeta},
		{"negative dimension", &Metadata{Shape: []int64{2, -3}}, ErrBadMeta},
		{"too many dimensions", &Metadata{Shape: make([]int64, MaxShapeDims+1)}, ErrBadMeta},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := MetaFromProto(c.p)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if !metaEqual(m, artifact.Meta{}) {
				t.Errorf("failed conversion returned non-zero meta %+v", m)
			}
		})
	}
}

func metaEqual(a, b artifact.Meta) bool {
	if len(a.Shape) != len(b.Shape) {
		return false
	}
	for i := range a.Shape {
		if a.Shape[i] != b.Shape[i] {
			return false
		}
	}
	return a.Length == b.Length && a.Checksum == b.Checksum && a.DType == b.DType &&
		a.Created == b.Created && a.Accessed == b.Accessed && a.Pins == b.Pins &&
		a.TTL == b.TTL && a.Epoch == b.Epoch
}

func BenchmarkIDFromProto(b *testing.B) {
	p := IDToProto(artifact.MustID(artifact.NamespaceKV, "llama-3-70b@00000000deadbeef/L0-79"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := IDFromProto(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFrameHeaderRoundTrip(b *testing.B) {
	h := &FrameHeader{
		RequestId:     1234,
		Op:            Op_OP_PUT,
		Ids:           []*ArtifactID{IDToProto(artifact.MustID(artifact.NamespaceKV, "llama-3-70b@00000000deadbeef/L0-79"))},
		Meta:          MetaToProto(artifact.Meta{Length: 1 << 20, Checksum: 1, DType: artifact.DTypeBF16, Shape: []int64{80, 2, 256, 8, 128}}),
		PayloadLength: 1 << 20,
	}
	var buf []byte
	var out FrameHeader
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = proto.MarshalOptions{}.MarshalAppend(buf[:0], h)
		if err != nil {
			b.Fatal(err)
		}
		proto.Reset(&out)
		if err := proto.Unmarshal(buf, &out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf)), "header-bytes")
}

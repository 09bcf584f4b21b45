package native

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/messages/frame"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/eviction"
	"github.com/stratacache/stratacache/tiers/memory"
)

func newEngine(t testing.TB, capacity int64) *actors.Engine {
	t.Helper()
	mt, err := memory.New(memory.Config{Name: "cpu", CapacityBytes: capacity, Policy: eviction.NewLRU(1024)})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := actors.NewEngine(actors.Config{Tiers: []tiers.Tier{mt}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	return eng
}

func startServer(t testing.TB, cfg ServerConfig) (*Server, string) {
	t.Helper()
	if cfg.Engine == nil {
		cfg.Engine = newEngine(t, 256<<20)
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

func dial(t testing.TB, addr string, o DialOptions) *Client {
	t.Helper()
	c, err := Dial(context.Background(), addr, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func kv(key string) artifact.ID { return artifact.MustID(artifact.NamespaceKV, key) }

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i) ^ seed
	}
	return b
}

func TestPutGetExistsDelete(t *testing.T) {
	_, addr := startServer(t, ServerConfig{Attrs: map[string]string{"chunk_size": "256"}})
	c := dial(t, addr, DialOptions{Client: "test"})
	ctx := context.Background()
	if c.Hello["chunk_size"] != "256" || c.Hello["server"] != "stratacache" {
		t.Fatalf("hello attrs %v", c.Hello)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 4096, directWrite, 4 << 20} {
		id := kv(fmt.Sprintf("chunk-%d", n))
		want := payload(n, byte(n))
		meta := artifact.Meta{DType: artifact.DTypeBF16, Shape: []int64{2, int64(n)}, Checksum: artifact.Checksum(want)}
		if err := c.Put(ctx, id, want, meta); err != nil {
			t.Fatalf("put %d: %v", n, err)
		}
		got, m, err := c.Get(ctx, nil, id)
		if err != nil {
			t.Fatalf("get %d: %v", n, err)
		}
		if !bytes.Equal(got, want) || m.Length != int64(n) || m.DType != artifact.DTypeBF16 || len(m.Shape) != 2 {
			t.Fatalf("size %d: payload or meta differ (meta %+v)", n, m)
		}
	}
	if ok, err := c.Exists(ctx, kv("chunk-1")); err != nil || !ok {
		t.Fatalf("exists: %v %v", ok, err)
	}
	if ok, err := c.Delete(ctx, kv("chunk-1")); err != nil || !ok {
		t.Fatalf("delete: %v %v", ok, err)
	}
	if _, _, err := c.Get(ctx, nil, kv("chunk-1")); !errors.Is(err, actors.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	bad := artifact.Meta{Checksum: 12345}
	if err := c.Put(ctx, kv("bad"), payload(100, 1), bad); !errors.Is(err, actors.ErrCorrupt) {
		t.Fatalf("put with wrong checksum: %v", err)
	}
	if ok, _ := c.Exists(ctx, kv("bad")); ok {
		t.Fatal("artifact with a wrong checksum was stored")
	}
	stats, err := c.Stats(ctx)
	if err != nil || !bytes.Contains(stats, []byte(`"Tiers"`)) {
		t.Fatalf("stats: %s %v", stats, err)
	}
}

func TestBatchOps(t *testing.T) {
	_, addr := startServer(t, ServerConfig{})
	c := dial(t, addr, DialOptions{})
	ctx := context.Background()
	ids := []artifact.ID{kv("a"), kv("b"), kv("c")}
	vals := [][]byte{payload(10, 1), payload(1<<20, 2), payload(0, 3)}
	st, err := c.MPut(ctx, ids, vals)
	if err != nil || !st[0] || !st[1] || !st[2] {
		t.Fatalf("mput: %v %v", st, err)
	}
	got, err := c.MGet(ctx, []artifact.ID{kv("a"), kv("missing"), kv("b"), kv("c")})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[0], vals[0]) || got[1] != nil || !bytes.Equal(got[2], vals[1]) || got[3] == nil || len(got[3]) != 0 {
		t.Fatalf("mget returned wrong values")
	}
	ex, err := c.MExists(ctx, []artifact.ID{kv("a"), kv("missing"), kv("c")})
	if err != nil || !ex[0] || ex[1] || !ex[2] {
		t.Fatalf("mexists: %v %v", ex, err)
	}
	// A bad id inside a batch fails that entry only; the stream stays in step.
	st, err = c.MPut(ctx, []artifact.ID{kv("d"), {Namespace: artifact.NamespaceKV}}, [][]byte{payload(5, 1), payload(7, 2)})
	if err == nil || !st[0] || st[1] {
		t.Fatalf("mput with a bad id: %v %v", st, err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("connection unusable after a bad batch entry: %v", err)
	}
}

func TestAuthHandshake(t *testing.T) {
	_, addr := startServer(t, ServerConfig{AuthToken: "tok"})
	if _, err := Dial(context.Background(), addr, DialOptions{Token: "nope"}); err == nil {
		t.Fatal("dial with a wrong token succeeded")
	}
	c := dial(t, addr, DialOptions{Token: "tok"})
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A frame before HELLO is refused and the connection closed.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	b, _ := AppendFrameHead(nil, &messages.FrameHeader{Op: messages.Op_OP_PING, RequestId: 9}, 0)
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	fr := NewFrameReader(nc, DefaultLimits())
	if _, err := fr.Next(); err != nil || fr.Header.GetOp() != messages.Op_OP_ERROR || fr.Header.GetErrorCode() != CodeAuth {
		t.Fatalf("reply to a frame before HELLO: %v %v", fr.Header.String(), err)
	}
	if _, err := fr.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("connection not closed: %v", err)
	}
}

// rawConn sends raw bytes after a valid HELLO and returns the reader.
func rawConn(t *testing.T, addr string) (net.Conn, *FrameReader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	b, _ := AppendFrameHead(nil, &messages.FrameHeader{Op: messages.Op_OP_HELLO, RequestId: 1}, 0)
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	fr := NewFrameReader(nc, DefaultLimits())
	if _, err := fr.Next(); err != nil || fr.Header.GetOp() != messages.Op_OP_REPLY {
		t.Fatalf("hello: %v", err)
	}
	return nc, fr
}

func TestBadFramesAreRefused(t *testing.T) {
	s, addr := startServer(t, ServerConfig{MaxPayload: 1 << 20, MaxRequest: 2 << 20})
	// putHead builds a PUT frame head by hand, so that the prefix and the
	// header may disagree.
	putHead := func(payloadLen uint64, declared uint64) []byte {
		h := &messages.FrameHeader{Op: messages.Op_OP_PUT, RequestId: 2, PayloadLength: declared,
			Ids: []*messages.ArtifactID{messages.IDToProto(kv("x"))}}
		hb, _ := proto.Marshal(h)
		b := frame.AppendPrefix(nil, frame.Prefix{HeaderLen: uint32(len(hb)), PayloadLen: payloadLen, RequestID: 2})
		return append(b, hb...)
	}
	huge := putHead(1<<40, 1<<40)
	overPut := putHead(1<<20+1, 1<<20+1)
	mismatch := putHead(10, 11)
	badMagic := []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
	badVersion := putHead(0, 0)
	badVersion[4] = 9
	hugeHeader := frame.AppendPrefix(nil, frame.Prefix{HeaderLen: 1 << 30})
	for _, tc := range []struct {
		name  string
		input []byte
		code  string
	}{
		{"payload over the frame limit", huge, CodeTooLarge},
		{"put over the payload limit", overPut, CodeTooLarge},
		{"lengths disagree", mismatch, CodeProtocol},
		{"bad magic", badMagic, CodeProtocol},
		{"bad version", badVersion, CodeProtocol},
		{"header over the limit", hugeHeader, CodeTooLarge},
		{"garbage header", append(frame.AppendPrefix(nil, frame.Prefix{HeaderLen: 4}), 0xff, 0xff, 0xff, 0xff), CodeProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, fr := rawConn(t, addr)
			if _, err := nc.Write(tc.input); err != nil {
				t.Fatal(err)
			}
			if _, err := fr.Next(); err != nil || fr.Header.GetOp() != messages.Op_OP_ERROR || fr.Header.GetErrorCode() != tc.code {
				t.Fatalf("reply %v, err %v; want error %s", fr.Header.String(), err, tc.code)
			}
			if _, err := fr.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("connection not closed: %v", err)
			}
		})
	}
	// A truncated payload: the client vanishes mid-PUT; nothing is stored.
	nc, _ := rawConn(t, addr)
	b := putHead(1000, 1000)
	if _, err := nc.Write(append(b, make([]byte, 500)...)); err != nil {
		t.Fatal(err)
	}
	_ = nc.Close()
	c := dial(t, addr, DialOptions{})
	for s.Stats().ConnsCurrent > 1 {
		time.Sleep(time.Millisecond) // polling a condition, not synchronising by time
	}
	if ok, err := c.Exists(context.Background(), kv("x")); err != nil || ok {
		t.Fatalf("half-written artifact visible: %v %v", ok, err)
	}
	if s.Stats().ProtocolErrors == 0 {
		t.Fatal("protocol errors not counted")
	}
}

func TestPipelinedRequestsAnswerInOrder(t *testing.T) {
	_, addr := startServer(t, ServerConfig{})
	nc, fr := rawConn(t, addr)
	var batch []byte
	for i := range 100 {
		h := &messages.FrameHeader{Op: messages.Op_OP_PUT, RequestId: uint64(100 + i), PayloadLength: 3,
			Ids: []*messages.ArtifactID{messages.IDToProto(kv(fmt.Sprint(i)))}}
		batch, _ = AppendFrameHead(batch, h, 3)
		batch = append(batch, 'a', 'b', byte(i))
		g := &messages.FrameHeader{Op: messages.Op_OP_GET, RequestId: uint64(1000 + i),
			Ids: []*messages.ArtifactID{messages.IDToProto(kv(fmt.Sprint(i)))}}
		batch, _ = AppendFrameHead(batch, g, 0)
	}
	if _, err := nc.Write(batch); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		p, err := fr.Next()
		if err != nil || fr.Header.GetRequestId() != uint64(100+i) || p.PayloadLen != 0 {
			t.Fatalf("put reply %d: %v %v", i, fr.Header.String(), err)
		}
		p, err = fr.Next()
		if err != nil || fr.Header.GetRequestId() != uint64(1000+i) || p.PayloadLen != 3 {
			t.Fatalf("get reply %d: %v %v", i, fr.Header.String(), err)
		}
		v := make([]byte, 3)
		if err := fr.ReadPayload(v); err != nil || v[2] != byte(i) {
			t.Fatalf("get payload %d: %v %v", i, v, err)
		}
	}
}

func TestConnLimitAndSlowClient(t *testing.T) {
	s, addr := startServer(t, ServerConfig{MaxConns: 1, IdleTimeout: 50 * time.Millisecond})
	c := dial(t, addr, DialOptions{})
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(context.Background(), addr, DialOptions{}); err == nil {
		t.Fatal("second connection accepted over MaxConns=1")
	}
	// The idle client is closed by the timeout, freeing the slot.
	for s.Stats().ConnsCurrent > 0 {
		time.Sleep(time.Millisecond) // polling a condition
	}
	// A client that sends half a frame and stalls is cut off too.
	nc, _ := rawConn(t, addr)
	if _, err := nc.Write(frame.AppendPrefix(nil, frame.Prefix{HeaderLen: 100})); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, err := nc.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("stalled client not closed by the idle timeout")
			}
			break
		}
	}
	if s.Stats().ConnsRejected != 1 {
		t.Fatalf("rejected %d connections, want 1", s.Stats().ConnsRejected)
	}
}

func TestStreamingPutAndGet(t *testing.T) {
	_, addr := startServer(t, ServerConfig{})
	c := dial(t, addr, DialOptions{})
	ctx := context.Background()
	want := payload(9<<20+17, 3)
	id := kv("streamed")
	if err := c.PutFrom(ctx, id, bytes.NewReader(want), int64(len(want)), artifact.Meta{}); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	meta, err := c.GetTo(ctx, &got, id)
	if err != nil || !bytes.Equal(got.Bytes(), want) || meta.Length != int64(len(want)) {
		t.Fatalf("GetTo: %v, %d bytes, meta %+v", err, got.Len(), meta)
	}
	// A reader shorter than announced fails and stores nothing.
	c2 := dial(t, addr, DialOptions{})
	if err := c2.PutFrom(ctx, kv("short"), bytes.NewReader(make([]byte, 10)), 100, artifact.Meta{}); err == nil {
		t.Fatal("short PutFrom succeeded")
	}
	if ok, err := c.Exists(ctx, kv("short")); err != nil || ok {
		t.Fatalf("short payload stored: %v %v", ok, err)
	}
}

package native

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
)

// TestPipelinedGetMeta sends many GETs of artifacts with different metadata
// (dtype, shape or none, lengths across the direct-write size, misses
// between them) in one write, so that one Step on the event loop (and the
// goroutine path, with the loop off) answers them in a row, and checks that
// every reply is in order and carries its own artifact's metadata and
// payload: the GET reply's header and metadata are reused per connection,
// and nothing of one reply may leak into the next.
func TestPipelinedGetMeta(t *testing.T) {
	for _, loops := range []int{1, -1} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			_, addr := startServer(t, ServerConfig{EventLoops: loops})
			c := dial(t, addr, DialOptions{})
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(16, 1))
			type art struct {
				id   artifact.ID
				val  []byte
				meta artifact.Meta
				miss bool
			}
			sizes := []int{0, 1, 4 << 10, directWrite - 1, directWrite, 100 << 10}
			var arts []art
			for i := range 24 {
				a := art{id: kv(fmt.Sprintf("pm-%d", i))}
				if i%7 == 3 {
					a.miss = true
					arts = append(arts, a)
					continue
				}
				a.val = payload(sizes[rng.IntN(len(sizes))], byte(i))
				a.meta = artifact.Meta{Checksum: artifact.Checksum(a.val)}
				if i%2 == 0 {
					a.meta.DType = artifact.DTypeBF16
					a.meta.Shape = []int64{int64(i + 1), 2, 3}[:1+i%3]
				}
				if err := c.Put(ctx, a.id, a.val, a.meta); err != nil {
					t.Fatalf("put %d: %v", i, err)
				}
				arts = append(arts, a)
			}
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(time.Minute)) // a hang fails
			var order []int
			for range 4 {
				for _, i := range rng.Perm(len(arts)) {
					order = append(order, i)
				}
			}
			stream, _ := AppendFrameHead(nil, &messages.FrameHeader{Op: messages.Op_OP_HELLO, RequestId: 1}, 0)
			for k, i := range order {
				h := &messages.FrameHeader{Op: messages.Op_OP_GET, RequestId: uint64(k + 2),
					Ids: []*messages.ArtifactID{messages.IDToProto(arts[i].id)}}
				stream, _ = AppendFrameHead(stream, h, 0)
			}
			werr := make(chan error, 1)
			go func() { _, err := nc.Write(stream); werr <- err }()
			fr := NewFrameReader(bufio.NewReaderSize(nc, 32<<10), DefaultLimits())
			if _, err := fr.Next(); err != nil || fr.Header.GetOp() != messages.Op_OP_REPLY {
				t.Fatalf("hello: %v %v", err, fr.Header.String())
			}
			for k, i := range order {
				a := arts[i]
				p, err := fr.Next()
				if err != nil {
					t.Fatalf("reply %d of %d: %v", k, len(order), err)
				}
				h := &fr.Header
				if h.GetRequestId() != uint64(k+2) {
					t.Fatalf("reply %d: request id %d, want %d", k, h.GetRequestId(), k+2)
				}
				if a.miss {
					if h.GetOp() != messages.Op_OP_ERROR || h.GetMeta() != nil || p.PayloadLen != 0 {
						t.Fatalf("reply %d (a miss): op %v meta %v payload %d", k, h.GetOp(), h.GetMeta(), p.PayloadLen)
					}
					continue
				}
				if h.GetOp() != messages.Op_OP_REPLY {
					t.Fatalf("reply %d: op %v %q", k, h.GetOp(), h.GetError())
				}
				m, err := messages.MetaFromProto(h.GetMeta())
				if err != nil {
					t.Fatalf("reply %d: meta: %v", k, err)
				}
				if m.Length != int64(len(a.val)) || m.Checksum != a.meta.Checksum || m.DType != a.meta.DType ||
					fmt.Sprint(m.Shape) != fmt.Sprint(a.meta.Shape) || h.GetErrorCode() != "" || len(h.GetIds()) != 0 {
					t.Fatalf("reply %d (artifact %d): meta %+v ids %v code %q, want length %d %+v",
						k, i, m, h.GetIds(), h.GetErrorCode(), len(a.val), a.meta)
				}
				got := make([]byte, p.PayloadLen)
				if err := fr.ReadPayload(got); err != nil || !bytes.Equal(got, a.val) {
					t.Fatalf("reply %d: payload differs (%v)", k, err)
				}
			}
			if err := <-werr; err != nil {
				t.Fatal(err)
			}
		})
	}
}

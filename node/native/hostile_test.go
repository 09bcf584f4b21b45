package native

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/messages/frame"
	"github.com/stratacache/stratacache/node/internal/inflight"
)

// TestShutdownLosesNoReplies: a client pipelines PUTs of unique ids while
// the server shuts down after a random number of them; every PUT the engine
// applied has its reply delivered, and every OK reply is for an applied PUT.
func TestShutdownLosesNoReplies(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 1))
	for round := range 6 {
		eng := newEngine(t, 256<<20)
		s, addr := startServer(t, ServerConfig{Engine: eng, Observe: func(string, time.Duration) {
			for start := time.Now(); time.Since(start) < 20*time.Microsecond; { // a slow store
			}
		}})
		after := int64(1 + rng.IntN(1500))
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		sent := 0
		wg.Add(2)
		go func() {
			defer wg.Done()
			bw := bufio.NewWriterSize(nc, 16<<10)
			b, _ := AppendFrameHead(nil, &messages.FrameHeader{Op: messages.Op_OP_HELLO, RequestId: 1}, 0)
			val := payload(16+rng.IntN(1024), byte(round))
			if _, err := bw.Write(b); err != nil {
				return
			}
			for i := range 3000 {
				b, _ = AppendFrameHead(b[:0], &messages.FrameHeader{Op: messages.Op_OP_PUT, RequestId: uint64(i + 2),
					Ids: []*messages.ArtifactID{messages.IDToProto(kv(fmt.Sprintf("r%d:%d", round, i)))}}, uint64(len(val)))
				if _, err := bw.Write(b); err != nil {
					return
				}
				if _, err := bw.Write(val); err != nil {
					return
				}
				sent = i + 1
			}
			_ = bw.Flush()
		}()
		go func() {
			defer wg.Done()
			for s.Stats().Requests < after {
				time.Sleep(time.Millisecond) // polling the server's progress, not synchronising on it
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		}()
		fr := NewFrameReader(bufio.NewReader(nc), DefaultLimits())
		acked := map[uint64]bool{}
		for {
			if _, err := fr.Next(); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Errorf("after %d replies: %v (a reset loses replies)", len(acked), err)
				}
				break
			}
			if fr.Header.GetRequestId() > 1 {
				acked[fr.Header.GetRequestId()-2] = fr.Header.GetOp() == messages.Op_OP_REPLY
			}
		}
		_ = nc.Close()
		wg.Wait()
		for i := range sent {
			ok, err := eng.Contains(context.Background(), kv(fmt.Sprintf("r%d:%d", round, i)), actors.Chain())
			if err != nil {
				t.Fatal(err)
			}
			if ok != acked[uint64(i)] {
				t.Fatalf("round %d: PUT %d applied=%v but acknowledged=%v (%d replies, %d sent)", round, i, ok, acked[uint64(i)], len(acked), sent)
			}
		}
	}
}

// Before HELLO a frame may carry a small header and no payload: a prefix
// that declares a header just under the frame limit, or a payload, is
// refused on the prefix (nothing allocated) and the connection closed.
func TestPreHelloLimits(t *testing.T) {
	s, addr := startServer(t, ServerConfig{AuthToken: "tok"})
	for _, c := range []struct{ header, payload uint32 }{{16<<20 - 1, 0}, {64, 60 << 20}} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		var p [PrefixSize]byte
		binary.BigEndian.PutUint32(p[0:], frame.Magic)
		p[4] = Version
		binary.LittleEndian.PutUint32(p[8:], c.header)
		binary.LittleEndian.PutUint64(p[16:], uint64(c.payload))
		if _, err := nc.Write(p[:]); err != nil {
			t.Fatal(err)
		}
		fr := NewFrameReader(bufio.NewReader(nc), DefaultLimits())
		if _, err := fr.Next(); err != nil || fr.Header.GetErrorCode() != CodeTooLarge {
			t.Fatalf("%+v: reply %v %q", c, err, fr.Header.GetError())
		}
		if _, err := fr.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("%+v: connection not closed: %v", c, err)
		}
		_ = nc.Close()
	}
	if s.Stats().ProtocolErrors != 2 {
		t.Fatalf("protocol errors %d", s.Stats().ProtocolErrors)
	}
	// HELLO then a large PUT pipelined behind it: served.
	c := dial(t, addr, DialOptions{Token: "tok"})
	if err := c.Put(context.Background(), kv("after-hello"), payload(1<<20, 1), artifact.Meta{}); err != nil {
		t.Fatal(err)
	}
}

// A PUT that does not fit the in-flight budget waits, then gets the busy
// status; its payload is skipped and the connection stays in step.
func TestPutRefusedByInflightBudget(t *testing.T) {
	budget := inflight.New(1<<20, 20*time.Millisecond)
	_, addr := startServer(t, ServerConfig{Budget: budget})
	c := dial(t, addr, DialOptions{})
	ctx := context.Background()
	if err := budget.Acquire(ctx, 900<<10); err != nil { // another request holds most of it
		t.Fatal(err)
	}
	err := c.Put(ctx, kv("big"), payload(512<<10, 2), artifact.Meta{})
	if err == nil || !strings.Contains(err.Error(), CodeBusy) {
		t.Fatalf("PUT over the budget: %v", err)
	}
	if ok, err := c.Exists(ctx, kv("big")); err != nil || ok {
		t.Fatalf("refused PUT stored: %v %v", ok, err)
	}
	budget.Release(900 << 10)
	if err := c.Put(ctx, kv("big"), payload(512<<10, 2), artifact.Meta{}); err != nil {
		t.Fatal(err)
	}
	if st := budget.Stats(); st.Used != 0 || st.Refusals != 1 {
		t.Fatalf("budget %+v", st)
	}
}

package connserver

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"
)

// serveWrites starts a server whose connections run handle and returns a
// client connection to it; both are closed when the test ends.
func serveWrites(t *testing.T, cfg Config, handle func(c *Conn)) net.Conn {
	t.Helper()
	cfg.MaxConns = 4
	cfg.Handle = handle
	s := New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		<-served
	})
	return nc
}

// WriteBuffers delivers many pieces (empty ones, several per writev, one
// larger than the socket takes at once) whole and in order to a client that
// reads in seeded random sizes, so the writes stop on a full socket and
// resume when the poller says it drained.
func TestWriteBuffersWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 4))
	var pieces [][]byte
	var want []byte
	for i := range 40 {
		n := rng.IntN(64 << 10)
		switch i {
		case 7:
			n = 0
		case 20:
			n = 9 << 20 // over Chunk: split across deadlines and writev calls
		}
		p := make([]byte, n)
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		pieces = append(pieces, p)
		want = append(want, p...)
	}
	done := make(chan error, 1)
	nc := serveWrites(t, Config{}, func(c *Conn) {
		done <- c.WriteBuffers(append([][]byte(nil), pieces...))
	})
	got := make([]byte, 0, len(want))
	buf := make([]byte, 256<<10)
	_ = nc.SetReadDeadline(time.Now().Add(60 * time.Second))
	for len(got) < len(want) {
		n, err := nc.Read(buf[:1+rng.IntN(len(buf))])
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("read after %d of %d bytes: %v", len(got), len(want), err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("WriteBuffers: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes differ from the pieces written")
	}
}

// A client that stops reading is cut off by the write deadline: the
// raw writev waits in the poller under it and reports it.
func TestWriteBuffersDeadline(t *testing.T) {
	done := make(chan error, 1)
	var srv *Conn
	serveWrites(t, Config{WriteTimeout: 200 * time.Millisecond}, func(c *Conn) {
		srv = c
		big := make([]byte, 64<<20) // far more than the socket buffers hold
		done <- c.WriteBuffers([][]byte{big})
	})
	select { // nc is never read
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("WriteBuffers to a stalled reader: %v (want a deadline error)", err)
		}
		if srv.s.WriteStall.Load() != 1 {
			t.Fatalf("WriteStall %d, want 1", srv.s.WriteStall.Load())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("WriteBuffers to a stalled reader did not return")
	}
}

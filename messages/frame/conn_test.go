package frame

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/stratacache/stratacache/messages"
)

// echoServer answers each request, in order, with its payload; a request
// whose header says "hold" waits for release first.
func echoServer(t *testing.T, nc net.Conn, release <-chan struct{}) {
	t.Helper()
	go func() {
		defer nc.Close()
		r := NewReader(nc, DefaultLimits())
		var scratch []byte
		for {
			var h messages.FrameHeader
			p, err := r.Next(&h)
			if err != nil {
				return
			}
			buf := make([]byte, p.PayloadLen)
			if err := r.ReadPayload(buf); err != nil {
				return
			}
			if h.Attrs["hold"] != "" {
				<-release
			}
			if scratch, err = Write(nc, scratch, &messages.FrameHeader{RequestId: h.RequestId, Op: messages.Op_OP_REPLY}, buf); err != nil {
				return
			}
		}
	}()
}

func TestConnPipelined(t *testing.T) {
	a, b := net.Pipe()
	echoServer(t, b, nil)
	c := NewConn(a, DefaultLimits())
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				want := fmt.Sprintf("g%d-i%d", g, i)
				rep, err := c.RoundTrip(context.Background(), &messages.FrameHeader{Op: messages.Op_OP_GET}, []byte(want))
				if err != nil {
					errs <- err
					return
				}
				got := make([]byte, rep.Prefix.PayloadLen)
				err = rep.ReadPayload(got)
				_ = rep.Close()
				if err != nil || string(got) != want {
					errs <- fmt.Errorf("got %q, %v; want %q", got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestConnAbandonedRequest(t *testing.T) {
	a, b := net.Pipe()
	release := make(chan struct{})
	echoServer(t, b, release)
	c := NewConn(a, DefaultLimits())
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.RoundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_GET, Attrs: map[string]string{"hold": "1"}}, []byte("slow"))
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned: %v", err)
	}
	close(release)
	// The abandoned reply is discarded; the next request gets its own.
	rep, err := c.RoundTrip(context.Background(), &messages.FrameHeader{Op: messages.Op_OP_GET}, []byte("next"))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, rep.Prefix.PayloadLen)
	if err := rep.ReadPayload(got); err != nil || string(got) != "next" {
		t.Fatalf("got %q, %v", got, err)
	}
	_ = rep.Close()
}

func TestConnClosed(t *testing.T) {
	a, b := net.Pipe()
	echoServer(t, b, nil)
	c := NewConn(a, DefaultLimits())
	_ = c.Close()
	_ = c.Close()
	if _, err := c.RoundTrip(context.Background(), &messages.FrameHeader{Op: messages.Op_OP_PING}); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("after close: %v", err)
	}
	// The peer going away fails waiting requests.
	a2, b2 := net.Pipe()
	c2 := NewConn(a2, DefaultLimits())
	defer c2.Close()
	go func() { _, _ = NewReader(b2, DefaultLimits()).Next(&messages.FrameHeader{}); _ = b2.Close() }()
	if _, err := c2.RoundTrip(context.Background(), &messages.FrameHeader{Op: messages.Op_OP_PING}); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("peer gone: %v", err)
	}
}

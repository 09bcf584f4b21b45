package connserver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// One connection allowed: the second is refused with the protocol's
// message; Shutdown wakes the first, idle in a read, and waits for it;
// Serve then returns ErrClosed.
func TestCapRejectAndShutdown(t *testing.T) {
	handled := make(chan struct{})
	var s *Server
	s = New(Config{
		MaxConns: 1,
		Reject:   func(nc net.Conn) { _, _ = io.WriteString(nc, "busy\n") },
		Handle: func(nc *Conn) {
			defer close(handled)
			br := bufio.NewReader(nc)
			for !s.Closing() {
				if _, err := br.ReadString('\n'); err != nil {
					return // the shutdown's read deadline wakes an idle reader
				}
				_, _ = io.WriteString(nc, "ok\n")
			}
		},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()

	c1, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	r1 := bufio.NewReader(c1)
	_, _ = io.WriteString(c1, "hello\n")
	if line, err := r1.ReadString('\n'); err != nil || line != "ok\n" {
		t.Fatalf("first connection: %q %v", line, err)
	}
	c2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if line, err := bufio.NewReader(c2).ReadString('\n'); err != nil || line != "busy\n" {
		t.Fatalf("second connection: %q %v (want the refusal)", line, err)
	}
	if s.Rejected.Load() != 1 || s.Total.Load() != 1 {
		t.Fatalf("counters: total %d rejected %d", s.Total.Load(), s.Rejected.Load())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	<-handled
	if err := <-served; !errors.Is(err, ErrClosed) {
		t.Fatalf("serve returned %v", err)
	}
	if s.Current.Load() != 0 {
		t.Fatalf("%d connections still counted", s.Current.Load())
	}
	s.Close() // twice is fine
}

package connserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// lineSession is a line protocol: each line is answered "loop:<line>" when
// a Step served it, "goroutine:<line>" when Serve did. A line starting
// with "big" is left to Serve (as a large value would be).
type lineSession struct {
	c     *Conn
	br    *bufio.Reader
	out   []byte
	steps *atomic.Int64
}

func (l *lineSession) flush() error {
	if len(l.out) == 0 {
		return nil
	}
	_, err := l.c.Write(l.out)
	l.out = l.out[:0]
	return err
}

func (l *lineSession) Step() Next {
	l.steps.Add(1)
	if _, err := l.br.Peek(l.br.Buffered() + 1); err != nil && !errors.Is(err, ErrWouldBlock) &&
		!errors.Is(err, bufio.ErrBufferFull) {
		return Detach
	}
	for {
		b, _ := l.br.Peek(l.br.Buffered())
		i := bytes.IndexByte(b, '\n')
		if i < 0 || bytes.HasPrefix(b, []byte("big")) {
			break
		}
		if n, err := strconv.Atoi(string(bytes.TrimPrefix(b[:i], []byte("fill ")))); err == nil && bytes.HasPrefix(b, []byte("fill ")) {
			l.out = append(l.out, bytes.Repeat([]byte{'z'}, n)...)
			l.out = append(l.out, '\n')
		} else {
			l.out = append(l.out, "loop:"...)
			l.out = append(l.out, b[:i+1]...)
		}
		_, _ = l.br.Discard(i + 1)
	}
	if l.flush() != nil || l.br.Buffered() > 0 {
		return Detach
	}
	return Wait
}

func (l *lineSession) Serve() {
	defer func() { _ = l.flush() }()
	for {
		if l.br.Buffered() == 0 {
			if l.flush() != nil {
				return
			}
			l.c.ArmIdle()
			if l.c.Closing() {
				return
			}
		}
		line, err := l.br.ReadString('\n')
		if err != nil {
			return
		}
		l.out = append(l.out, "goroutine:"+line...)
	}
}

func startLoopServer(t *testing.T, cfg Config) (*Server, string, *atomic.Int64) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("event loops are Linux only")
	}
	steps := new(atomic.Int64)
	cfg.MaxConns = 16
	cfg.Loops = 1
	cfg.Open = func(c *Conn) Session {
		return &lineSession{c: c, br: bufio.NewReaderSize(c, 4096), steps: steps}
	}
	s := New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s, ln.Addr().String(), steps
}

func dialLine(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(60 * time.Second)) // a hang fails, not a slow machine
	return nc, bufio.NewReader(nc)
}

// Small requests are served by Step on the loop, pipelined ones in order;
// a request the Session leaves to Serve moves the connection to a
// goroutine for good, in order with what the loop answered before.
func TestLoopServesThenDetaches(t *testing.T) {
	_, addr, steps := startLoopServer(t, Config{})
	nc, br := dialLine(t, addr)
	if _, err := io.WriteString(nc, "a\nb\nc\n"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"loop:a\n", "loop:b\n", "loop:c\n"} {
		if got, err := br.ReadString('\n'); err != nil || got != want {
			t.Fatalf("got %q %v, want %q", got, err, want)
		}
	}
	if steps.Load() == 0 {
		t.Fatal("no Step ran: the connection was not on the loop")
	}
	if _, err := io.WriteString(nc, "d\nbig\ne\n"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 3 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, line)
	}
	// "d" may have come in the same read as "big" or before it.
	if got[0] != "loop:d\n" || got[1] != "goroutine:big\n" || got[2] != "goroutine:e\n" {
		t.Fatalf("replies %q", got)
	}
	if _, err := io.WriteString(nc, "f\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "goroutine:f\n" {
		t.Fatalf("after detaching: %q %v", line, err)
	}
}

// Many connections on one loop, each with its own pipelined stream.
func TestLoopManyConnections(t *testing.T) {
	_, addr, _ := startLoopServer(t, Config{})
	type client struct {
		nc net.Conn
		br *bufio.Reader
	}
	var cs []client
	for range 8 {
		nc, br := dialLine(t, addr)
		cs = append(cs, client{nc, br})
	}
	for round := range 20 {
		for i, c := range cs {
			if _, err := io.WriteString(c.nc, strings.Repeat("x", i)+"\n"+strings.Repeat("y", round)+"\n"); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range cs {
			for _, want := range []string{"loop:" + strings.Repeat("x", i) + "\n", "loop:" + strings.Repeat("y", round) + "\n"} {
				if got, err := c.br.ReadString('\n'); err != nil || got != want {
					t.Fatalf("conn %d round %d: %q %v, want %q", i, round, got, err, want)
				}
			}
		}
	}
}

// The client leaving, the idle timeout and Shutdown end connections on
// the loop: the server's count goes back to zero.
func TestLoopConnectionsEnd(t *testing.T) {
	s, addr, _ := startLoopServer(t, Config{IdleTimeout: 100 * time.Millisecond})
	nc, br := dialLine(t, addr)
	if _, err := io.WriteString(nc, "a\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	// Idle past the timeout: the loop's sweep ends it.
	if _, err := br.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	nc2, _ := dialLine(t, addr)
	_ = nc2.Close()
	deadline := time.Now().Add(60 * time.Second)
	for s.Current.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still counted", s.Current.Load())
		}
		time.Sleep(time.Millisecond) // polling a condition
	}
}

// Shutdown ends a connection idle on the loop and returns.
func TestLoopShutdown(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("event loops are Linux only")
	}
	s := New(Config{MaxConns: 4, Loops: 1, Open: func(c *Conn) Session {
		return &lineSession{c: c, br: bufio.NewReaderSize(c, 4096), steps: new(atomic.Int64)}
	}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	nc, br := dialLine(t, ln.Addr().String())
	if _, err := io.WriteString(nc, "a\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := br.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Fatalf("after shutdown: %v, want EOF", err)
	}
	if err := <-served; !errors.Is(err, ErrClosed) {
		t.Fatalf("serve returned %v", err)
	}
}

// Replies the socket does not take at once (a client that sends before it
// reads) are written as it drains, and the connection stays on the loop.
func TestLoopPendingRepliesStayOnLoop(t *testing.T) {
	_, addr, _ := startLoopServer(t, Config{})
	nc, br := dialLine(t, addr)
	const n = 200 << 10 // under loopMaxPending
	if _, err := io.WriteString(nc, "fill "+strconv.Itoa(n)+"\nfill "+strconv.Itoa(n/4)+"\n"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{n, n / 4} {
		line, err := br.ReadString('\n')
		if err != nil || len(line) != want+1 || strings.Trim(line, "z\n") != "" {
			t.Fatalf("reply of %d bytes, %v; want %d", len(line), err, want+1)
		}
	}
	if _, err := io.WriteString(nc, "a\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "loop:a\n" {
		t.Fatalf("after the large replies: %q %v (want the loop's reply)", line, err)
	}
}

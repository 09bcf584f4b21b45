package frame

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/stratacache/messages"
)

// echoServer answers each request, in order, with its payload; a request
// whose header says "hold" waits for release first.
func echoServer(t *testing.T, nc net.Conn, release <-chan struct{}) {
	echoServerHeld(t, nc, release, nil)
}

// echoServerHeld is echoServer that also signals held when a "hold"
// request has arrived.
func echoServerHeld(t *testing.T, nc net.Conn, release <-chan struct{}, held chan<- struct{}) {
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
				if held != nil {
					held <- struct{}{}
				}
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
	release, held := make(chan struct{}), make(chan struct{}, 1)
	echoServerHeld(t, b, release, held)
	c := NewConn(a, DefaultLimits())
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.RoundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_GET, Attrs: map[string]string{"hold": "1"}}, []byte("slow"))
		done <- err
	}()
	<-held // written and waiting for its reply
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

// scriptServer reads requests from nc and lets the test answer them by
// hand: each request header arrives on reqs.
func scriptServer(t *testing.T, nc net.Conn) <-chan *messages.FrameHeader {
	t.Helper()
	reqs := make(chan *messages.FrameHeader, 16)
	go func() {
		defer close(reqs)
		r := NewReader(nc, DefaultLimits())
		for {
			h := new(messages.FrameHeader)
			if _, err := r.Next(h); err != nil {
				return
			}
			if err := r.Discard(); err != nil {
				return
			}
			reqs <- h
		}
	}()
	return reqs
}

func readAll(t *testing.T, rep *Reply) string {
	t.Helper()
	b, err := rep.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	_ = rep.Close()
	return string(b)
}

// A deadline that fires part-way through a payload fails that request
// only: the rest of the payload is skipped by the next reader and the
// connection serves the next request.
func TestConnDeadlineInsidePayload(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	reqs := scriptServer(t, b)
	c := NewConn(a, DefaultLimits())
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	type res struct {
		rep *Reply
		err error
	}
	got := make(chan res, 1)
	go func() {
		rep, err := c.RoundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_GET})
		got <- res{rep, err}
	}()
	h := <-reqs
	// The reply's head and half of its 8-byte payload, then a stall.
	head, _ := AppendHead(nil, &messages.FrameHeader{RequestId: h.RequestId, Op: messages.Op_OP_REPLY}, 8)
	if _, err := b.Write(append(head, "half"...)); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	buf := make([]byte, 8)
	if err := r.rep.ReadPayload(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stalled payload: %v, want a deadline error", err)
	}
	if r.rep.Pending() != 4 {
		t.Fatalf("pending %d after reading 4 of 8", r.rep.Pending())
	}
	_ = r.rep.Close()
	if c.Err() != nil {
		t.Fatalf("the connection failed: %v", c.Err())
	}
	// The peer finishes the payload late, then answers the next request.
	go func() {
		_, _ = b.Write([]byte("rest"))
		h := <-reqs
		_, _ = Write(b, nil, &messages.FrameHeader{RequestId: h.RequestId, Op: messages.Op_OP_REPLY}, []byte("next"))
	}()
	rep, err := c.RoundTrip(context.Background(), &messages.FrameHeader{Op: messages.Op_OP_GET})
	if err != nil {
		t.Fatal(err)
	}
	if s := readAll(t, rep); s != "next" {
		t.Fatalf("next reply %q", s)
	}
}

// Error replies: a request's own is a *RemoteError and the connection
// goes on; one with request id 0 refuses the connection and fails it.
func TestConnErrorReplies(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	reqs := scriptServer(t, b)
	c := NewConn(a, DefaultLimits())
	defer c.Close()
	go func() {
		h := <-reqs
		_, _ = Write(b, nil, &messages.FrameHeader{RequestId: h.RequestId, Op: messages.Op_OP_ERROR, ErrorCode: "not_found", Error: "no such artifact"})
		h = <-reqs
		_, _ = Write(b, nil, &messages.FrameHeader{RequestId: h.RequestId, Op: messages.Op_OP_REPLY}, []byte("ok"))
		<-reqs
		_, _ = Write(b, nil, &messages.FrameHeader{RequestId: 0, Op: messages.Op_OP_ERROR, ErrorCode: "busy", Error: "too many connections"})
	}()
	ctx := context.Background()
	var re *RemoteError
	if _, err := c.RoundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_GET}); !errors.As(err, &re) || re.Code != "not_found" {
		t.Fatalf("error reply: %v", err)
	}
	rep, err := c.RoundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_GET})
	if err != nil || readAll(t, rep) != "ok" {
		t.Fatalf("after an error reply: %v", err)
	}
	if _, err := c.RoundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_GET}); !errors.As(err, &re) || re.Code != "busy" {
		t.Fatalf("connection refused: %v", err)
	}
	if !errors.Is(c.Err(), ErrConnClosed) {
		t.Fatalf("the connection should have failed: %v", c.Err())
	}
}

// A cancellation while waiting (no deadline) gives up without failing the
// connection, and a body shorter than announced fails it.
func TestConnCancelAndShortBody(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	reqs := scriptServer(t, b)
	c := NewConn(a, DefaultLimits())
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.RoundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_GET})
		done <- err
	}()
	h := <-reqs // sent: now waiting
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	// The abandoned reply comes late and is skipped.
	_, _ = Write(b, nil, &messages.FrameHeader{RequestId: h.RequestId, Op: messages.Op_OP_REPLY}, bytes.Repeat([]byte("x"), 100<<10))
	go func() {
		h := <-reqs
		_, _ = Write(b, nil, &messages.FrameHeader{RequestId: h.RequestId, Op: messages.Op_OP_REPLY}, []byte("fresh"))
	}()
	rep, err := c.RoundTrip(context.Background(), &messages.FrameHeader{Op: messages.Op_OP_GET}, []byte("payload"))
	if err != nil || readAll(t, rep) != "fresh" {
		t.Fatalf("after a cancellation: %v", err)
	}
	if _, err := c.RoundTripFrom(context.Background(), &messages.FrameHeader{Op: messages.Op_OP_PUT}, strings.NewReader("short"), 10); err == nil {
		t.Fatal("a short body was sent")
	}
	if !errors.Is(c.Err(), ErrConnClosed) {
		t.Fatalf("a short body must fail the connection: %v", c.Err())
	}
}

// Over TCP, a peer that answers in order and blocks writing a large reply
// nobody waits for any more must not stall the next large request (the
// drain goroutine reads the abandoned reply).
func TestConnAbandonedLargeReplyDoesNotStall(t *testing.T) {
	const size = 32 << 20 // beyond loopback socket buffers
	big := make([]byte, size)
	nc := tcpServer(t, func(*messages.FrameHeader) []byte { return big })
	c := NewConn(nc, DefaultLimits())
	defer c.Close()
	// The first request gives up as soon as its reply starts arriving.
	ctx, cancel := context.WithCancel(context.Background())
	rep, err := c.RoundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_GET})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	_ = rep.Close() // skipping under a cancelled context stops at once
	// A large request now: its write needs the peer to read, which needs
	// the abandoned reply read first.
	dl, stop := context.WithTimeout(context.Background(), 20*time.Second)
	defer stop()
	rep, err = c.RoundTrip(dl, &messages.FrameHeader{Op: messages.Op_OP_PUT}, make([]byte, size))
	if err != nil {
		t.Fatal(err)
	}
	if n := rep.Pending(); n != size {
		t.Fatalf("reply of %d bytes", n)
	}
	_ = rep.Close()
}

// Many goroutines pipeline on one TCP connection; some give up while
// waiting (tight deadlines), some stop reading half-way through their
// payload. Every reply a request does get is its own (checked against the
// payload the server derives from the request), and giving up never fails
// the connection. Seeded.
func TestConnPipelinedWithAbandonment(t *testing.T) {
	fill := func(tag string, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = tag[i%len(tag)]
		}
		return b
	}
	nc := tcpServer(t, func(h *messages.FrameHeader) []byte {
		n, _ := strconv.Atoi(h.Attrs["n"])
		return fill(h.Attrs["tag"], n)
	})
	c := NewConn(nc, DefaultLimits())
	defer c.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := 0; i < 60; i++ {
				tag := fmt.Sprintf("g%d-i%d/", g, i)
				n := rng.IntN(128 << 10)
				mode := rng.IntN(3)
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if mode == 1 {
					ctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(400))*time.Microsecond)
				}
				rep, err := c.RoundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_GET, Attrs: map[string]string{"tag": tag, "n": strconv.Itoa(n)}})
				outcome := "ok"
				switch {
				case err != nil && mode == 1 && errors.Is(err, context.DeadlineExceeded):
					outcome = "gave up waiting"
				case err != nil:
					t.Errorf("%s: %v", tag, err)
					cancel()
					return
				default:
					want := fill(tag, n)
					got := make([]byte, n)
					if mode == 2 {
						got, want = got[:n/2], want[:n/2]
						outcome = "read half"
					}
					if err := rep.ReadPayload(got); err != nil {
						if mode != 1 || !errors.Is(err, os.ErrDeadlineExceeded) {
							t.Errorf("%s payload: %v", tag, err)
						}
						outcome = "gave up reading"
					} else if !bytes.Equal(got, want) {
						t.Errorf("%s: got another request's payload (%q...)", tag, got[:min(len(got), 16)])
					}
					_ = rep.Close()
				}
				cancel()
				mu.Lock()
				counts[outcome]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := c.Err(); err != nil {
		t.Fatalf("the connection failed: %v", err)
	}
	rep, err := c.RoundTrip(context.Background(), &messages.FrameHeader{Op: messages.Op_OP_GET, Attrs: map[string]string{"tag": "last", "n": "4"}})
	if err != nil || readAll(t, rep) != "last" {
		t.Fatalf("after the storm: %v", err)
	}
	t.Logf("outcomes: %v", counts)
}

// tcpServer serves one loopback TCP connection, answering each request in
// order, once its payload is read, with reply(request header) as the
// payload; it returns the client's end.
func tcpServer(t *testing.T, reply func(*messages.FrameHeader) []byte) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		r := NewReader(nc, DefaultLimits())
		var scratch []byte
		for {
			var h messages.FrameHeader
			if _, err := r.Next(&h); err != nil {
				return
			}
			if err := r.Discard(); err != nil {
				return
			}
			if scratch, err = Write(nc, scratch, &messages.FrameHeader{RequestId: h.RequestId, Op: messages.Op_OP_REPLY}, reply(&h)); err != nil {
				return
			}
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

// A peer that refuses a request on its header (a payload over its limit)
// answers with an error and closes without reading the payload: the rest
// of the client's write meets a reset, and the request ends with the
// peer's answer, not the reset. Both ways a node replies: to the request
// id (a header it parsed) and to id 0 (a prefix it refused).
func TestConnRefusedWhileWriting(t *testing.T) {
	for _, replyID := range []string{"request", "zero"} {
		t.Run(replyID, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				r := NewReader(nc, DefaultLimits())
				var h messages.FrameHeader
				p, err := r.Next(&h)
				if err != nil {
					_ = nc.Close()
					return
				}
				id := p.RequestID
				if replyID == "zero" {
					id = 0
				}
				_, _ = Write(nc, nil, &messages.FrameHeader{RequestId: id, Op: messages.Op_OP_ERROR, ErrorCode: "too_large", Error: "payload over the limit"})
				// Half-close, wait until the client has the reply, then close
				// with unread input: a reset.
				_ = nc.(*net.TCPConn).CloseWrite()
				buf := make([]byte, 1<<20)
				for i := 0; i < 4; i++ {
					if _, err := nc.Read(buf); err != nil {
						break
					}
				}
				_ = nc.(*net.TCPConn).SetLinger(0)
				_ = nc.Close()
			}()
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c := NewConn(nc, DefaultLimits())
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err = c.RoundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_PUT}, make([]byte, 64<<20))
			var re *RemoteError
			if !errors.As(err, &re) || re.Code != "too_large" {
				t.Fatalf("round trip: %v, want the peer's too_large", err)
			}
		})
	}
}

// Detach hands the socket over between requests: the caller then speaks
// on it with Write and the Reader (the echo server still answers), the
// Conn refuses requests with ErrDetached, and its Close leaves the socket
// open. While a request is outstanding Detach refuses.
func TestConnDetach(t *testing.T) {
	a, b := net.Pipe()
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	echoServerHeld(t, b, release, held)
	c := NewConn(a, DefaultLimits())
	rep, err := c.RoundTrip(context.Background(), &messages.FrameHeader{Op: messages.Op_OP_GET}, []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	_ = rep.Close()
	done := make(chan error, 1)
	go func() {
		rep, err := c.RoundTrip(context.Background(), &messages.FrameHeader{Op: messages.Op_OP_GET, Attrs: map[string]string{"hold": "1"}}, []byte("two"))
		if err == nil {
			err = rep.Close()
		}
		done <- err
	}()
	<-held
	if _, _, err := c.Detach(); !errors.Is(err, ErrBusy) {
		t.Fatalf("detach with a request outstanding: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	nc, r, err := c.Detach()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RoundTrip(context.Background(), &messages.FrameHeader{Op: messages.Op_OP_GET}); !errors.Is(err, ErrDetached) || !errors.Is(err, ErrConnClosed) {
		t.Fatalf("request after detach: %v", err)
	}
	_ = c.Close() // must not close nc
	if _, err := Write(nc, nil, &messages.FrameHeader{RequestId: 9, Op: messages.Op_OP_GET}, []byte("three")); err != nil {
		t.Fatal(err)
	}
	var h messages.FrameHeader
	p, err := r.Next(&h)
	if err != nil || h.RequestId != 9 {
		t.Fatalf("after detach: %v %d", err, h.RequestId)
	}
	got := make([]byte, p.PayloadLen)
	if err := r.ReadPayload(got); err != nil || string(got) != "three" {
		t.Fatalf("after detach: %q %v", got, err)
	}
	_ = nc.Close()
}

package frame

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/stratacache/stratacache/messages"
)

// ErrConnClosed is returned for requests on a Conn that was closed or
// whose stream failed.
var ErrConnClosed = errors.New("frame: connection closed")

// Conn is the client side of a pipelined connection: any number of
// goroutines send requests on it without waiting for earlier replies, and
// each gets the reply with its request id. Requests are written whole
// (one writev each, under a write lock); a reader goroutine reads reply
// headers in arrival order and hands each, with the stream positioned at
// its payload, to the waiting caller, which reads the payload straight
// into its own buffer and then Closes the Reply to let the next reply be
// read. A caller that gives up (its context ends) leaves its reply to be
// discarded when it arrives.
type Conn struct {
	rw  io.ReadWriteCloser
	r   *Reader
	wmu sync.Mutex
	out []byte

	mu      sync.Mutex
	next    uint64
	waiting map[uint64]chan *Reply
	err     error
	dead    chan struct{}
	done    chan struct{} // the reader goroutine has returned
}

// Reply is one reply: its header and prefix, and the stream positioned at
// its payload until Close. Close must be called exactly once per Reply.
type Reply struct {
	Header *messages.FrameHeader
	Prefix Prefix
	c      *Conn
	once   sync.Once
	closed chan struct{}
}

// ReadPayload reads the next len(dst) bytes of the reply's payload.
func (r *Reply) ReadPayload(dst []byte) error { return r.c.r.ReadPayload(dst) }

// Pending is the number of payload bytes not yet read.
func (r *Reply) Pending() uint64 { return r.c.r.Pending() }

// Close discards the unread payload and lets the next reply be read.
func (r *Reply) Close() error {
	var err error
	r.once.Do(func() {
		err = r.c.r.Discard()
		close(r.closed)
	})
	return err
}

// NewConn starts reading replies from rw (a net.Conn after its handshake)
// within lim. The Conn owns rw: Close closes it.
func NewConn(rw io.ReadWriteCloser, lim Limits) *Conn {
	c := &Conn{rw: rw, r: NewReader(rw, lim), waiting: map[uint64]chan *Reply{},
		dead: make(chan struct{}), done: make(chan struct{})}
	go c.readLoop()
	return c
}

func (c *Conn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		close(c.dead)
	}
}

// Err is why the connection stopped (nil while it works).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Conn) readLoop() {
	defer close(c.done)
	for {
		h := new(messages.FrameHeader)
		p, err := c.r.Next(h)
		if err != nil {
			c.fail(fmt.Errorf("%w: %w", ErrConnClosed, err))
			return
		}
		c.mu.Lock()
		ch := c.waiting[p.RequestID]
		delete(c.waiting, p.RequestID)
		c.mu.Unlock()
		if ch == nil { // abandoned, or unsolicited
			if err := c.r.Discard(); err != nil {
				c.fail(fmt.Errorf("%w: %w", ErrConnClosed, err))
				return
			}
			continue
		}
		rep := &Reply{Header: h, Prefix: p, c: c, closed: make(chan struct{})}
		ch <- rep // buffered: never blocks
		select {
		case <-rep.closed:
		case <-c.dead:
			return
		}
	}
}

// RoundTrip sends req (its RequestId is assigned here) with payload and
// waits for the reply; the caller must Close it. ctx bounds the write and
// the wait: a caller whose ctx ends gets ctx's error and its reply is
// discarded on arrival (the connection stays usable). A write that fails
// part-way leaves the stream unusable: the Conn fails.
func (c *Conn) RoundTrip(ctx context.Context, req *messages.FrameHeader, payload ...[]byte) (*Reply, error) {
	ch := make(chan *Reply, 1)
	c.wmu.Lock()
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		c.wmu.Unlock()
		return nil, err
	}
	c.next++
	id := c.next
	c.waiting[id] = ch
	c.mu.Unlock()
	req.RequestId = id
	if d, ok := c.rw.(interface{ SetWriteDeadline(time.Time) error }); ok {
		dl, _ := ctx.Deadline()
		_ = d.SetWriteDeadline(dl)
	}
	var err error
	c.out, err = Write(c.rw, c.out, req, payload...)
	c.wmu.Unlock()
	if err != nil {
		c.forget(id)
		c.fail(fmt.Errorf("%w: write: %w", ErrConnClosed, err))
		_ = c.rw.Close()
		return nil, err
	}
	select {
	case rep := <-ch:
		return rep, nil
	case <-ctx.Done():
		if !c.forget(id) {
			// The reader took the waiter: a reply is, or is about to be, in
			// ch; discard it so that the reader moves on.
			select {
			case rep := <-ch:
				_ = rep.Close()
			case <-c.dead:
			}
		}
		return nil, ctx.Err()
	case <-c.dead:
		select {
		case rep := <-ch:
			return rep, nil
		default:
		}
		return nil, c.Err()
	}
}

// forget removes id's waiter; it reports whether it was still registered.
func (c *Conn) forget(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.waiting[id]
	delete(c.waiting, id)
	return ok
}

// Close closes the stream and fails the waiting requests; safe twice.
func (c *Conn) Close() error {
	c.fail(ErrConnClosed)
	err := c.rw.Close()
	<-c.done
	if errors.Is(err, io.ErrClosedPipe) {
		err = nil
	}
	return err
}

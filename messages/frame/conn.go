package frame

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/stratacache/stratacache/messages"
)

// ErrConnClosed is returned for requests on a Conn that was closed or
// whose stream failed; the cause is wrapped beside it.
var ErrConnClosed = errors.New("frame: connection closed")

// ErrTLS wraps a failed TLS handshake in Dial.
var ErrTLS = errors.New("frame: tls handshake failed")

// RemoteError is an OP_ERROR reply: the peer refused the request with a
// code (docs/protocol.md, "Errors") and a message. The connection is still
// in step; a peer that follows the error by closing (auth, protocol, busy)
// fails the next read. Callers map Code to their own sentinels.
type RemoteError struct {
	Code, Message string
}

func (e *RemoteError) Error() string { return "remote error " + e.Code + ": " + e.Message }

// Conn is the client side of one native-protocol connection: the one
// framed client that clientsdk, node/native's Client and the cluster's
// peer transport use. Any number of goroutines may send requests on it at
// once (pipelining); each gets the reply with its request id. A pool that
// hands a Conn to one request at a time uses it the same way and pays
// nothing for the pipelining: there is no reader goroutine.
//
// Requests are written whole, one writev each, under a write token. Replies
// are read by whichever waiting request holds the read token: it reads
// frame headers until its own arrives, hands any other reply (with the
// token) to the request it answers, and skips replies nobody waits for
// (abandoned ones). The holder of a Reply owns the stream until Close, so a
// payload goes straight from the socket into the caller's buffer.
//
// A reply nobody waits for any more is skipped by whoever reads next; when
// no request is waiting, a short-lived goroutine reads and skips it, so a
// peer blocked writing an abandoned reply never stalls the requests after
// it (the stream is never left unread while replies are owed to nobody).
//
// Deadlines: a request's context bounds its write, its wait and the
// reading of its reply's payload; a cancellation without a deadline
// interrupts blocked I/O. A request that gives up between frames leaves
// the stream in step (its reply is skipped on arrival), and so does one
// that gives up part-way through its payload (the rest is skipped). Only
// a failure inside a frame's prefix or header, a failed write, a malformed
// frame or the peer going away fails the Conn: every request then ends
// with an error wrapping ErrConnClosed and the socket is closed.
type Conn struct {
	nc net.Conn
	r  *Reader

	wtok chan struct{} // write token
	out  []byte        // frame head scratch, under wtok
	vec  net.Buffers   // writev pieces, under wtok
	wdl  deadline

	rtok chan struct{} // read token: a leader reading headers, or a Reply's owner
	rdl  deadline

	mu        sync.Mutex
	next      uint64
	waiting   map[uint64]chan *Reply
	abandoned map[uint64]struct{} // sent, given up on, reply not read yet
	draining  bool                // a drain goroutine runs
	err       error
	dead      chan struct{}
}

// NewConn runs the client side of a connection over nc (after any
// handshake; Dial does both) within lim. The Conn owns nc: Close closes it.
func NewConn(nc net.Conn, lim Limits) *Conn {
	c := &Conn{nc: nc, r: NewReader(nc, lim), wtok: make(chan struct{}, 1), rtok: make(chan struct{}, 1),
		waiting: map[uint64]chan *Reply{}, abandoned: map[uint64]struct{}{}, dead: make(chan struct{})}
	c.wdl.set = nc.SetWriteDeadline
	c.rdl.set = nc.SetReadDeadline
	return c
}

// Dialer opens connections; *net.Dialer is one (fault-injecting dialers
// wrap it in tests).
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// DialConfig says how Dial connects.
type DialConfig struct {
	// Dialer opens the TCP connection (nil: a net.Dialer).
	Dialer Dialer
	// TLS, when set, wraps the connection; an empty ServerName defaults to
	// addr's host.
	TLS *tls.Config
	// Limits bound the replies accepted (zero: DefaultLimits).
	Limits Limits
	// Hello is the handshake request (OP_HELLO, OP_PEER_HELLO); nil sends
	// none.
	Hello *messages.FrameHeader
}

// Dial connects to addr and runs the TLS and protocol handshakes within
// ctx. It returns the Conn and the handshake's reply header (nil without
// Hello). A refused hello is a *RemoteError; a failed TLS handshake wraps
// ErrTLS.
func Dial(ctx context.Context, addr string, cfg DialConfig) (*Conn, *messages.FrameHeader, error) {
	d := cfg.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if cfg.TLS != nil {
		tc := cfg.TLS
		if tc.ServerName == "" && !tc.InsecureSkipVerify {
			tc = tc.Clone()
			tc.ServerName, _, _ = net.SplitHostPort(addr)
		}
		t := tls.Client(nc, tc)
		if err := t.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, nil, fmt.Errorf("%w with %s: %w", ErrTLS, addr, err)
		}
		nc = t
	}
	lim := cfg.Limits
	if lim == (Limits{}) {
		lim = DefaultLimits()
	}
	c := NewConn(nc, lim)
	if cfg.Hello == nil {
		return c, nil, nil
	}
	rep, err := c.RoundTrip(ctx, cfg.Hello)
	if err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	h := rep.Header
	_ = rep.Close()
	return c, h, nil
}

// Reply is one reply: its header and prefix (both stay valid after Close),
// with the stream positioned at its payload until Close. Its owner reads the payload (ReadPayload,
// CopyPayload) under the deadline of the request's context, and must Close
// it exactly once, from one goroutine; nothing else is read from the
// connection meanwhile.
type Reply struct {
	Header *messages.FrameHeader
	Prefix Prefix
	c      *Conn
	ctx    context.Context // the request's, for naming deadline errors
	disarm func()
	closed bool
}

// ReadPayload reads the next len(dst) bytes of the payload.
func (r *Reply) ReadPayload(dst []byte) error {
	if uint64(len(dst)) > r.c.r.Pending() { // the caller's mistake: nothing read, still in step
		return fmt.Errorf("%w: reading %d payload bytes, %d left in the reply", ErrMalformed, len(dst), r.c.r.Pending())
	}
	return r.err(r.c.r.ReadPayload(dst))
}

// err classifies a payload read error (see Conn.readErr) and names a
// deadline or cancellation by the request's context error.
func (r *Reply) err(err error) error {
	if err = r.c.readErr(err); err != nil && r.ctx != nil && (isTimeout(err) || r.ctx.Err() != nil) {
		return ctxErr(r.ctx, err)
	}
	return err
}

// CopyPayload writes the rest of the payload to w.
func (r *Reply) CopyPayload(w io.Writer) (int64, error) {
	n, err := r.c.r.CopyPayload(w)
	return n, r.err(err)
}

// Pending is the number of payload bytes not yet read.
func (r *Reply) Pending() uint64 { return r.c.r.Pending() }

// Bytes reads the rest of a (small) payload into a new slice; nil when
// there is none. Callers bound what they accept with the Conn's Limits.
func (r *Reply) Bytes() ([]byte, error) {
	n := r.c.r.Pending()
	if n == 0 {
		return nil, nil
	}
	b := make([]byte, n)
	return b, r.ReadPayload(b)
}

// Close skips what is left of the payload and lets the connection read on.
// Skipping is bounded by the request's deadline; what it leaves is skipped
// by the next reader. Safe to call twice.
func (r *Reply) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	var err error
	if r.c.r.Pending() > 0 && r.c.Err() == nil {
		err = r.c.readErr(r.c.r.Discard())
		if isTimeout(err) {
			err = nil // in step: the next reader skips the rest
		}
	}
	r.release()
	return err
}

// release hands the read token back without reading anything more; what
// is left of the payload is skipped by the next reader, or by a drain
// goroutine when nobody waits (the peer may be blocked writing it).
func (r *Reply) release() {
	r.closed = true
	unread := r.c.r.Pending() > 0
	r.disarm()
	<-r.c.rtok
	if unread {
		r.c.ensureDrain()
	}
}

// RoundTrip sends req (its RequestId is assigned here) with payload
// (written from the caller's slices, uncopied) and waits for the reply,
// which the caller must Close. An OP_ERROR reply is returned as a
// *RemoteError (already closed). ctx bounds the write, the wait and the
// payload reads (see Conn).
func (c *Conn) RoundTrip(ctx context.Context, req *messages.FrameHeader, payload ...[]byte) (*Reply, error) {
	return c.roundTrip(ctx, req, payload, nil, 0)
}

// RoundTripFrom is RoundTrip with the payload streamed from body (n bytes,
// never held whole in the client). A body shorter than n fails the Conn:
// the frame it began cannot be completed.
func (c *Conn) RoundTripFrom(ctx context.Context, req *messages.FrameHeader, body io.Reader, n uint64) (*Reply, error) {
	return c.roundTrip(ctx, req, nil, body, n)
}

func (c *Conn) roundTrip(ctx context.Context, req *messages.FrameHeader, payload [][]byte, body io.Reader, n uint64) (*Reply, error) {
	ch := make(chan *Reply, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.next++
	id := c.next
	c.waiting[id] = ch
	c.mu.Unlock()
	if err := c.write(ctx, req, id, payload, body, n); err != nil {
		c.abandon(id, ch, false)
		return nil, err
	}
	return c.wait(ctx, id, ch)
}

// write sends one request frame under the write token.
func (c *Conn) write(ctx context.Context, req *messages.FrameHeader, id uint64, payload [][]byte, body io.Reader, n uint64) error {
	select {
	case c.wtok <- struct{}{}: // the common case, without a wait
	default:
		select {
		case c.wtok <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.dead:
			return c.Err()
		}
	}
	defer func() { <-c.wtok }()
	if err := c.Err(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err // out of time while queued: nothing sent
	}
	defer c.wdl.arm(ctx)()
	req.RequestId = id
	if body == nil {
		n = 0
		for _, p := range payload {
			n += uint64(len(p))
		}
	}
	head, err := AppendHead(c.out[:0], req, n)
	if err != nil {
		return err // nothing written: the stream is in step
	}
	c.out = head
	var sent int64
	switch {
	case body != nil:
		var w int
		w, err = c.nc.Write(head)
		sent = int64(w)
		if err == nil {
			var copied int64
			copied, err = io.CopyN(c.nc, body, int64(n))
			sent += copied
			if err != nil {
				err = fmt.Errorf("frame: sent %d of %d payload bytes: %w", copied, n, err)
			}
		}
	case len(payload) == 0:
		var w int
		w, err = c.nc.Write(head)
		sent = int64(w)
	default:
		c.vec = append(append(c.vec[:0], head), payload...)
		v := c.vec
		sent, err = v.WriteTo(c.nc)
		clear(c.vec)
	}
	if err != nil {
		if sent == 0 && isTimeout(err) {
			// Nothing went out: the stream is in step (over TLS the
			// next write reports the broken state and fails the Conn).
			return ctxErr(ctx, err)
		}
		// The peer may have refused the request and closed while it was
		// being sent (a payload over its limit: it answers too_large,
		// then closes, and the rest of the write meets a reset). Its
		// answer is what the caller needs, not the reset.
		rerr := c.refusal(ctx, id)
		c.fail(fmt.Errorf("%w: write: %w", ErrConnClosed, err))
		if rerr != nil {
			return rerr
		}
		return ctxErr(ctx, err)
	}
	return nil
}

// refusalWait bounds how long a failed write waits for the peer's refusal.
const refusalWait = time.Second

// refusal reads, after a failed write of request id, an error reply the
// peer sent before closing: an OP_ERROR for id or for the connection
// (request id 0). A peer that closes after an error reply leaves it in
// our receive queue, which a reset does not take away. Replies to other
// requests met on the way are skipped (the Conn is about to fail, and
// them with it). It returns nil when there is none (or the read token is
// held by another request).
func (c *Conn) refusal(ctx context.Context, id uint64) *RemoteError {
	select {
	case c.rtok <- struct{}{}:
	default:
		return nil
	}
	defer func() { <-c.rtok }()
	wctx, cancel := context.WithTimeout(ctx, refusalWait)
	defer cancel()
	defer c.rdl.arm(wctx)()
	for i := 0; i < 64; i++ {
		h := new(messages.FrameHeader)
		p, err := c.r.Next(h)
		if err != nil {
			return nil
		}
		if h.GetOp() == messages.Op_OP_ERROR && (p.RequestID == id || p.RequestID == 0) {
			return &RemoteError{Code: h.GetErrorCode(), Message: h.GetError()}
		}
	}
	return nil
}

// wait waits for request id's reply: handed over by another reader, or
// read by this goroutine once it holds the read token.
func (c *Conn) wait(ctx context.Context, id uint64, ch chan *Reply) (*Reply, error) {
	select {
	case c.rtok <- struct{}{}: // nobody reads: read our own reply (a pool's one request at a time)
		if rep, err, done := c.lead(ctx, id, ch); done {
			return rep, err
		}
	default:
	}
	for {
		select {
		case rep := <-ch:
			return c.accept(ctx, rep, c.rdl.arm(ctx))
		case c.rtok <- struct{}{}:
			rep, err, done := c.lead(ctx, id, ch)
			if done {
				return rep, err
			}
		case <-ctx.Done():
			c.abandon(id, ch, true)
			return nil, ctx.Err()
		case <-c.dead:
			if !c.forget(id) {
				return c.accept(ctx, <-ch, c.rdl.arm(ctx))
			}
			return nil, c.Err()
		}
	}
}

// lead reads frames while holding the read token until id's reply
// arrives (done), or until it hands the token over with another request's
// reply (not done: wait again).
func (c *Conn) lead(ctx context.Context, id uint64, ch chan *Reply) (*Reply, error, bool) {
	disarm := c.rdl.arm(ctx)
	for {
		rep, handed, err := c.step(id)
		switch {
		case err != nil:
			disarm()
			<-c.rtok
			if isTimeout(err) { // between frames: in step
				c.abandon(id, ch, true)
				return nil, ctxErr(ctx, err), true
			}
			c.forget(id)
			var rerr *RemoteError
			if errors.As(err, &rerr) {
				return nil, rerr, true
			}
			return nil, ctxErr(ctx, err), true
		case rep != nil:
			rep, err := c.accept(ctx, rep, disarm)
			return rep, err, true
		case handed:
			disarm()
			return nil, nil, false
		}
	}
}

// step reads one frame while holding the read token (first skipping what
// is left of the previous payload) and routes it: the reply to own is
// returned; a reply another request waits for is handed to it with the
// token (handed); one nobody waits for is skipped by the next step. An
// error is a deadline between frames (the stream is in step) or a failure
// of the Conn.
func (c *Conn) step(own uint64) (rep *Reply, handed bool, err error) {
	if err := c.r.peek(); err != nil {
		return nil, false, c.readErr(err)
	}
	h := new(messages.FrameHeader)
	p, err := c.r.Next(h)
	if err != nil { // inside a frame head: out of step
		err = fmt.Errorf("%w: read: %w", ErrConnClosed, err)
		c.fail(err)
		return nil, false, err
	}
	if p.RequestID == 0 && h.GetOp() == messages.Op_OP_ERROR {
		// A refusal of the connection itself (busy, a frame the peer
		// could not parse); the peer closes next.
		rerr := &RemoteError{Code: h.GetErrorCode(), Message: h.GetError()}
		c.fail(fmt.Errorf("%w: %w", ErrConnClosed, rerr))
		return nil, false, rerr
	}
	rep = &Reply{Header: h, Prefix: p, c: c}
	c.mu.Lock()
	_, owed := c.abandoned[p.RequestID]
	delete(c.abandoned, p.RequestID)
	wch, ok := c.waiting[p.RequestID]
	delete(c.waiting, p.RequestID)
	if ok && p.RequestID != own {
		wch <- rep // buffered, never blocks; the read token goes with it
	}
	c.mu.Unlock()
	if !ok && !owed {
		// Not a reply to anything outstanding: the peer is out of step,
		// and a request waiting for it would wait in vain.
		err := fmt.Errorf("%w: %w: reply to request %d, which is not outstanding", ErrConnClosed, ErrMalformed, p.RequestID)
		c.fail(err)
		return nil, false, err
	}
	switch {
	case ok && p.RequestID == own:
		return rep, false, nil
	case ok:
		return nil, true, nil
	}
	return nil, false, nil
}

// drain reads and skips replies nobody waits for, while there are any and
// no waiting request reads them itself (handing on the replies that do
// have a waiter). It reads without a deadline: a peer that never answers
// keeps it until the Conn closes, as a request that abandoned its reply
// would keep any reader.
func (c *Conn) drain() {
	defer func() {
		c.mu.Lock()
		c.draining = false
		c.mu.Unlock()
	}()
	for {
		select {
		case c.rtok <- struct{}{}:
		case <-c.dead:
			return
		}
		disarm := c.rdl.arm(context.Background())
		for {
			if err := c.readErr(c.r.Discard()); err != nil {
				disarm()
				<-c.rtok
				return
			}
			c.mu.Lock()
			if len(c.abandoned) == 0 || c.err != nil {
				c.draining = false
				c.mu.Unlock()
				disarm()
				<-c.rtok
				return
			}
			c.mu.Unlock()
			_, handed, err := c.step(0)
			if err != nil {
				disarm()
				<-c.rtok
				return
			}
			if handed {
				disarm()
				break
			}
		}
	}
}

// accept takes ownership of a reply (and the read token) with the
// request's deadline armed; an OP_ERROR reply becomes a *RemoteError.
func (c *Conn) accept(ctx context.Context, rep *Reply, disarm func()) (*Reply, error) {
	rep.ctx, rep.disarm = ctx, disarm
	if rep.Header.GetOp() == messages.Op_OP_ERROR {
		err := &RemoteError{Code: rep.Header.GetErrorCode(), Message: rep.Header.GetError()}
		if cerr := rep.Close(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	return rep, nil
}

// abandon gives up on request id. A reply already handed over goes back
// unread; one still to come is skipped on arrival. When the request was
// sent, a drain goroutine makes sure someone reads its reply even if no
// other request waits (see Conn).
func (c *Conn) abandon(id uint64, ch chan *Reply, sent bool) {
	c.mu.Lock()
	_, waiting := c.waiting[id]
	delete(c.waiting, id)
	if sent && waiting {
		c.abandoned[id] = struct{}{}
	}
	c.mu.Unlock()
	if !waiting {
		rep := <-ch // handed over, with the read token
		rep.disarm = func() {}
		rep.release()
	}
	if sent && waiting {
		c.ensureDrain()
	}
}

// ensureDrain starts a drain goroutine unless one runs.
func (c *Conn) ensureDrain() {
	c.mu.Lock()
	start := !c.draining && c.err == nil
	c.draining = true
	c.mu.Unlock()
	if start {
		go c.drain()
	}
}

// forget removes id's waiter; it reports whether it was still registered
// (false: its reply is in its channel, with the read token).
func (c *Conn) forget(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.waiting[id]
	delete(c.waiting, id)
	return ok
}

// readErr classifies a read error: a deadline leaves the stream in step
// (the Reader's count of unread bytes is exact), anything else fails the
// Conn.
func (c *Conn) readErr(err error) error {
	if err == nil || isTimeout(err) {
		return err
	}
	err = fmt.Errorf("%w: read: %w", ErrConnClosed, err)
	c.fail(err)
	return err
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// ctxErr names the context's error for an I/O error it caused.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	if isTimeout(err) {
		return fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
	}
	return err
}

func (c *Conn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		close(c.dead)
		_ = c.nc.Close()
	}
}

// ErrDetached: the Conn handed its socket over (Detach); its requests
// fail with it.
var ErrDetached = fmt.Errorf("%w: detached", ErrConnClosed)

// ErrBusy: Detach was asked while requests or unread replies are
// outstanding.
var ErrBusy = errors.New("frame: requests outstanding")

// Detach hands the connection over to the caller for good, for a
// conversation that is not one reply per request (a held-open stream of
// replies): it returns the socket, with no deadline set, and the Reader,
// positioned between frames. The Conn then fails every request with
// ErrDetached and its Close leaves the socket alone; the caller closes
// it. It refuses with ErrBusy while a request, or a reply nobody read
// yet, is outstanding.
func (c *Conn) Detach() (net.Conn, *Reader, error) {
	select {
	case c.wtok <- struct{}{}:
	default:
		return nil, nil, ErrBusy
	}
	select {
	case c.rtok <- struct{}{}:
	default:
		<-c.wtok
		return nil, nil, ErrBusy
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.err; err != nil {
		<-c.rtok
		<-c.wtok
		return nil, nil, err
	}
	if len(c.waiting) > 0 || len(c.abandoned) > 0 || c.draining || c.r.Pending() > 0 {
		<-c.rtok
		<-c.wtok
		return nil, nil, ErrBusy
	}
	// The tokens stay taken: nothing of the Conn reads or writes again.
	c.err = ErrDetached
	close(c.dead)
	_ = c.nc.SetDeadline(time.Time{})
	return c.nc, c.r, nil
}

// Err is why the connection stopped (nil while it works).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection and fails the requests in flight; safe to
// call twice.
func (c *Conn) Close() error {
	c.fail(ErrConnClosed)
	return nil
}

// deadline keeps one direction's socket deadline in step with the context
// of whoever holds that direction's token. A cancellation moves it to the
// past; arming again (the next holder) makes a late cancellation of the
// previous holder a no-op.
type deadline struct {
	set func(time.Time) error
	mu  sync.Mutex
	gen uint64
	at  time.Time // what was last set
}

var longAgo = time.Unix(1, 0)

// arm sets the deadline from ctx for the token's new holder; the returned
// func must be called before the token is handed on.
func (d *deadline) arm(ctx context.Context) (disarm func()) {
	dl, _ := ctx.Deadline()
	d.mu.Lock()
	d.gen++
	gen := d.gen
	if !dl.Equal(d.at) {
		_ = d.set(dl)
		d.at = dl
	}
	d.mu.Unlock()
	if ctx.Done() == nil {
		return func() {}
	}
	stop := context.AfterFunc(ctx, func() {
		d.mu.Lock()
		if d.gen == gen {
			_ = d.set(longAgo)
			d.at = longAgo
		}
		d.mu.Unlock()
	})
	return func() { stop() }
}

package clientsdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/messages/frame"
)

// conn is one pooled connection: a messages/frame Conn (the one framed
// client of the native protocol) that the pool hands to one request at a
// time. A conn whose stream may be out of step (a deadline or cancellation
// mid-frame, a fatal error reply, a reply that breaks the protocol) is
// marked broken and closed instead of returning to the pool.
type conn struct {
	fc       *frame.Conn
	addr     string
	hdr      *messages.FrameHeader // the last reply's header
	broken   bool
	settings *NodeSettings // from the node's HELLO (empty on a peer port)
}

// peerPrefix marks pool keys of connections to a node's peer port.
const peerPrefix = "peer:"

func (c *Client) dial(ctx context.Context, key string) (*conn, error) {
	o := &c.o
	addr, peer := strings.CutPrefix(key, peerPrefix)
	hello := &messages.FrameHeader{Op: messages.Op_OP_HELLO, AuthToken: []byte(o.Token),
		Attrs: map[string]string{"version": "1", "client": o.ClientName}}
	if peer {
		// The peer port takes the cluster's hello: the client presents
		// itself under its name with the peer token (docs/cluster.md).
		hello = &messages.FrameHeader{Op: messages.Op_OP_PEER_HELLO, NodeName: o.ClientName, AuthToken: []byte(o.PeerToken)}
	}
	d := &net.Dialer{Timeout: o.DialTimeout}
	var hs handshakeDialer
	hs.d, hs.timeout = d, o.HandshakeTimeout
	fc, rep, err := frame.Dial(ctx, addr, frame.DialConfig{Dialer: &hs, TLS: o.TLS, Limits: o.Limits, Hello: hello})
	if err != nil {
		if hs.nc != nil && hs.expired() && ctx.Err() == nil {
			// Connected, and no reply to HELLO within the handshake
			// bound: whatever listens there is not a native port (a RESP
			// or HTTP port says nothing until it sees a line end).
			return nil, fmt.Errorf("%w: %s: no reply to HELLO within %v: not a StrataCache native port (or the node is stalled): %v",
				ErrProtocol, addr, o.HandshakeTimeout, err)
		}
		return nil, classify(addr, "hello", err)
	}
	if hs.nc != nil {
		// The handshake is over: lift its bound (frame.Conn believes it
		// set no deadline, and sets the next request's from its context).
		hs.nc.done = true
		_ = hs.nc.Conn.SetDeadline(time.Time{})
	}
	cn := &conn{fc: fc, addr: addr, hdr: rep, settings: &NodeSettings{}}
	if !peer {
		s, err := ParseSettings(rep.GetAttrs())
		if err == nil {
			err = c.settingsCheck(addr, s)
		}
		if err != nil {
			_ = cn.close()
			return nil, err
		}
		cn.settings = &s
	}
	return cn, nil
}

// handshakeDialer dials with d and bounds what follows the connect (TLS
// and HELLO) by timeout, through the socket's deadline: frame.Dial arms
// the caller's deadline per request, so the bound is set on the
// connection it returns, before HELLO is sent, and cleared after.
type handshakeDialer struct {
	d       *net.Dialer
	timeout time.Duration
	nc      *deadlineConn
}

func (h *handshakeDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nc, err := h.d.DialContext(ctx, network, addr)
	if err != nil || h.timeout <= 0 {
		return nc, err
	}
	h.nc = &deadlineConn{Conn: nc, until: time.Now().Add(h.timeout)}
	return h.nc, nil
}

func (h *handshakeDialer) expired() bool { return !time.Now().Before(h.nc.until) }

// deadlineConn caps every deadline set on it at until while the handshake
// runs (frame.Conn sets deadlines from the request's context).
type deadlineConn struct {
	net.Conn
	until time.Time
	done  bool
}

func (d *deadlineConn) cap(t time.Time) time.Time {
	if d.done || (!t.IsZero() && t.Before(d.until)) {
		return t
	}
	return d.until
}

func (d *deadlineConn) SetDeadline(t time.Time) error      { return d.Conn.SetDeadline(d.cap(t)) }
func (d *deadlineConn) SetReadDeadline(t time.Time) error  { return d.Conn.SetReadDeadline(d.cap(t)) }
func (d *deadlineConn) SetWriteDeadline(t time.Time) error { return d.Conn.SetWriteDeadline(d.cap(t)) }

func (c *conn) close() error { return c.fc.Close() }

// usable reports whether c may go back to the pool.
func (c *conn) usable() bool { return !c.broken && c.fc.Err() == nil }

// classify turns an error talking to addr into the SDK's sentinels: an
// error reply by its code (the node's code and text kept in the
// message), a stream that is not the native protocol as ErrProtocol,
// anything that kept the node from answering (refused, reset, EOF, a
// timeout of the connect) as ErrUnavailable. The caller's own deadline or
// cancellation stays the context's error. what names the step ("hello").
func classify(addr, what string, err error) error {
	var re *frame.RemoteError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return remoteErr(re.Code, re.Message)
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrProtocol):
		return err // classified already
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, frame.ErrBadMagic), errors.Is(err, frame.ErrBadVersion), errors.Is(err, frame.ErrMalformed),
		errors.Is(err, frame.ErrTLS):
		if what != "" {
			return fmt.Errorf("%w: %s %s: %w", ErrProtocol, what, addr, err)
		}
		return fmt.Errorf("%w: %s: %w", ErrProtocol, addr, err)
	case errors.Is(err, frame.ErrTooLarge):
		return fmt.Errorf("%w: %s: a reply over the client's Limits: %w", ErrProtocol, addr, err)
	}
	if what != "" {
		return fmt.Errorf("%w: %s %s: %w", ErrUnavailable, what, addr, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, addr, err)
}

// fail classifies err and marks the conn broken on anything but an error
// reply the node keeps the connection open after.
func (c *conn) fail(err error) error {
	var re *frame.RemoteError
	if !errors.As(err, &re) || connFatal(re.Code) {
		c.broken = true
	}
	return classify(c.addr, "", err)
}

// request sends req (payload pieces go out in one writev, uncopied) and
// returns the reply, positioned at its payload; the caller must Close it.
// ctx bounds the write, the wait and the payload reads; a cancellation
// interrupts blocked I/O.
func (c *conn) request(ctx context.Context, req *messages.FrameHeader, payload ...[]byte) (*frame.Reply, error) {
	rep, err := c.fc.RoundTrip(ctx, req, payload...)
	if err != nil {
		return nil, c.fail(err)
	}
	c.hdr = rep.Header
	return rep, nil
}

// roundTrip runs req and returns the reply's (small) payload; the reply's
// header stays in c.hdr.
func (c *conn) roundTrip(ctx context.Context, req *messages.FrameHeader, payload ...[]byte) ([]byte, error) {
	rep, err := c.request(ctx, req, payload...)
	if err != nil {
		return nil, err
	}
	b, err := rep.Bytes()
	_ = rep.Close()
	if err != nil {
		return nil, c.fail(err)
	}
	return b, nil
}

package clientsdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

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
		// itself under its name with its own token, which the node maps
		// to the client (or subscriber) role; the nodes' peer token is
		// never needed (docs/cluster.md, "Credentials"). PeerToken, when
		// set, overrides it for deployments that still share one.
		tok := o.Token
		if o.PeerToken != "" {
			tok = o.PeerToken
		}
		hello = &messages.FrameHeader{Op: messages.Op_OP_PEER_HELLO, NodeName: o.ClientName, AuthToken: []byte(tok)}
	}
	// The TCP connect is bounded by DialTimeout; TLS and HELLO, once
	// connected, by HandshakeTimeout: a listener that is not a native port
	// (a RESP or HTTP port says nothing until it sees a line end) fails
	// fast instead of at the caller's deadline.
	nc, err := (&net.Dialer{Timeout: o.DialTimeout}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, classify(addr, "dial", err)
	}
	hctx := ctx
	if o.HandshakeTimeout > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, o.HandshakeTimeout)
		defer cancel()
	}
	fc, rep, err := frame.Dial(hctx, addr, frame.DialConfig{Dialer: connected{nc}, TLS: o.TLS, Limits: o.Limits, Hello: hello})
	if err != nil {
		_ = nc.Close()
		if handshakeTimedOut(ctx, hctx, err) {
			return nil, fmt.Errorf("%w: %s: no reply to HELLO within %v: not a StrataCache native port (or the node is stalled): %v",
				ErrProtocol, addr, o.HandshakeTimeout, err)
		}
		return nil, classify(addr, "hello", err)
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

// handshakeTimedOut reports whether err is the handshake bound of hctx
// firing, not the caller's deadline (ctx): the socket deadline may fire a
// moment before hctx's timer, so deadlines are compared, not Err.
func handshakeTimedOut(ctx, hctx context.Context, err error) bool {
	if ctx.Err() != nil || hctx == ctx || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)) {
		return false
	}
	hdl, _ := hctx.Deadline()
	cdl, ok := ctx.Deadline()
	return !ok || hdl.Before(cdl)
}

// connected is a frame.Dialer that hands over a connection dialled
// already (the connect and the handshake have different bounds).
type connected struct{ nc net.Conn }

func (c connected) DialContext(context.Context, string, string) (net.Conn, error) { return c.nc, nil }

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

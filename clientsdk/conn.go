package clientsdk

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	fc     *frame.Conn
	hdr    *messages.FrameHeader // the last reply's header
	broken bool
	hello  map[string]string
}

// peerPrefix marks pool keys of connections to a node's peer port.
const peerPrefix = "peer:"

func dialConn(ctx context.Context, key string, o *Options) (*conn, error) {
	addr, peer := strings.CutPrefix(key, peerPrefix)
	hello := &messages.FrameHeader{Op: messages.Op_OP_HELLO, AuthToken: []byte(o.Token),
		Attrs: map[string]string{"version": "1", "client": o.ClientName}}
	if peer {
		// The peer port takes the cluster's hello: the client presents
		// itself under its name with the peer token (docs/cluster.md).
		hello = &messages.FrameHeader{Op: messages.Op_OP_PEER_HELLO, NodeName: o.ClientName, AuthToken: []byte(o.PeerToken)}
	}
	fc, rep, err := frame.Dial(ctx, addr, frame.DialConfig{Dialer: &net.Dialer{Timeout: o.DialTimeout}, TLS: o.TLS, Limits: o.Limits, Hello: hello})
	if err != nil {
		return nil, fmt.Errorf("clientsdk: hello %s: %w", addr, mapErr(err))
	}
	return &conn{fc: fc, hdr: rep, hello: rep.GetAttrs()}, nil
}

func (c *conn) close() error { return c.fc.Close() }

// usable reports whether c may go back to the pool.
func (c *conn) usable() bool { return !c.broken && c.fc.Err() == nil }

// mapErr turns an error reply into the SDK's sentinel (the node's code and
// text kept in the message).
func mapErr(err error) error {
	var re *frame.RemoteError
	if errors.As(err, &re) {
		return fmt.Errorf("%w: %s: %s", sentinelOf(re.Code), re.Code, re.Message)
	}
	return err
}

// fail maps err and marks the conn broken on anything but an error reply
// the node keeps the connection open after.
func (c *conn) fail(err error) error {
	var re *frame.RemoteError
	if !errors.As(err, &re) || connFatal(re.Code) {
		c.broken = true
	}
	return mapErr(err)
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

package clientsdk

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/messages/frame"
)

// conn is one native-protocol connection, used by one request at a time
// (the pool hands it out exclusively). A conn whose stream may be out of
// step (a deadline hit mid-frame, a fatal error reply) is marked broken
// and closed instead of returning to the pool.
type conn struct {
	nc      net.Conn
	fr      *frame.Reader
	hdr     messages.FrameHeader // reply header, reused
	scratch []byte
	nextID  uint64
	broken  bool
	hello   map[string]string
}

// peerPrefix marks pool keys of connections to a node's peer port.
const peerPrefix = "peer:"

func dialConn(ctx context.Context, key string, o *Options) (*conn, error) {
	addr, peer := strings.CutPrefix(key, peerPrefix)
	d := net.Dialer{Timeout: o.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if o.TLS != nil {
		tc := tls.Client(nc, o.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, err
		}
		nc = tc
	}
	c := &conn{nc: nc, fr: frame.NewReader(bufio.NewReaderSize(nc, 64<<10), o.Limits)}
	req := &messages.FrameHeader{Op: messages.Op_OP_HELLO, AuthToken: []byte(o.Token),
		Attrs: map[string]string{"version": "1", "client": o.ClientName}}
	if peer {
		// The peer port takes the cluster's hello: the client presents
		// itself under its name with the peer token (docs/cluster.md).
		req = &messages.FrameHeader{Op: messages.Op_OP_PEER_HELLO, NodeName: o.ClientName, AuthToken: []byte(o.PeerToken)}
	}
	if _, err := c.roundTrip(ctx, req); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("clientsdk: hello %s: %w", addr, err)
	}
	c.hello = c.hdr.GetAttrs()
	return c, nil
}

func (c *conn) close() error { return c.nc.Close() }

// begin arms the connection's deadline from ctx; the returned end must be
// called when the request is done. A cancellation without deadline also
// interrupts blocked I/O. When the cancellation races the end of the
// request, its deadline may land after the conn went back to the pool:
// end then marks the conn broken so that it is not reused.
func (c *conn) begin(ctx context.Context) (end func()) {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.nc.SetDeadline(dl)
	} else {
		_ = c.nc.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	return func() {
		if !stop() {
			c.broken = true
		}
	}
}

// fail marks the conn broken on any error other than a clean error reply,
// and turns an I/O error caused by ctx into ctx's error.
func (c *conn) fail(ctx context.Context, err error) error {
	var re *remoteErr
	if errors.As(err, &re) {
		if connFatal(re.code) {
			c.broken = true
		}
		return re.err
	}
	c.broken = true
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// remoteErr carries an error reply's code through the conn layer.
type remoteErr struct {
	code string
	err  error
}

func (e *remoteErr) Error() string { return e.err.Error() }
func (e *remoteErr) Unwrap() error { return e.err }

// send writes one request; payload pieces go out in one writev uncopied.
func (c *conn) send(req *messages.FrameHeader, payload ...[]byte) error {
	c.nextID++
	req.RequestId = c.nextID
	var err error
	c.scratch, err = frame.Write(c.nc, c.scratch, req, payload...)
	return err
}

// recv reads the reply header of the request just sent into c.hdr; the
// payload is left on the stream. An error reply becomes a *remoteErr.
func (c *conn) recv() (frame.Prefix, error) {
	p, err := c.fr.Next(&c.hdr)
	if err != nil {
		return p, err
	}
	if c.hdr.RequestId != c.nextID && c.hdr.RequestId != 0 {
		return p, fmt.Errorf("%w: reply to request %d, expected %d", ErrProtocol, c.hdr.RequestId, c.nextID)
	}
	if c.hdr.Op == messages.Op_OP_ERROR {
		if err := c.fr.Discard(); err != nil {
			return p, err
		}
		return p, &remoteErr{code: c.hdr.ErrorCode, err: replyError(&c.hdr)}
	}
	return p, nil
}

// roundTrip sends req and returns the reply's (small) payload.
func (c *conn) roundTrip(ctx context.Context, req *messages.FrameHeader, payload ...[]byte) ([]byte, error) {
	defer c.begin(ctx)()
	if err := c.send(req, payload...); err != nil {
		return nil, c.fail(ctx, err)
	}
	p, err := c.recv()
	if err != nil {
		return nil, c.fail(ctx, err)
	}
	if p.PayloadLen == 0 {
		return nil, nil
	}
	b := make([]byte, p.PayloadLen)
	if err := c.fr.ReadPayload(b); err != nil {
		return nil, c.fail(ctx, err)
	}
	return b, nil
}

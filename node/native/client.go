package native

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
)

// ErrRemote wraps an error reply whose code has no engine sentinel.
var ErrRemote = errors.New("native: remote error")

// DialOptions configure a client connection.
type DialOptions struct {
	// Token is presented in HELLO.
	Token string
	// TLS, when set, is used for the connection.
	TLS *tls.Config
	// Limits bound the replies the client accepts (DefaultLimits when zero).
	Limits Limits
	// Client names the client in HELLO's attrs.
	Client string
}

// Client is a synchronous native-protocol client: one request at a time on
// one connection (use one Client per goroutine). Put sends the payload
// without copying it; Get reads it straight into the caller's buffer.
type Client struct {
	mu     sync.Mutex
	nc     net.Conn
	br     *bufio.Reader
	fr     *FrameReader
	out    []byte
	vec    net.Buffers
	nextID uint64
	// Hello is the attrs of the node's HELLO reply.
	Hello map[string]string
}

// Dial connects to addr and performs the HELLO handshake.
func Dial(ctx context.Context, addr string, o DialOptions) (*Client, error) {
	var d net.Dialer
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
	o.Limits.ensureDefaults()
	c := &Client{nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}
	c.fr = NewFrameReader(c.br, o.Limits)
	h := &messages.FrameHeader{Op: messages.Op_OP_HELLO, AuthToken: []byte(o.Token),
		Attrs: map[string]string{"version": strconv.Itoa(int(Version)), "client": o.Client}}
	if _, err := c.roundTrip(ctx, h, nil); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("native: hello: %w", err)
	}
	c.Hello = c.fr.Header.GetAttrs()
	return c, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.nc.Close() }

// errorFrom maps an error reply to the engine's sentinels.
func errorFrom(h *messages.FrameHeader) error {
	var base error
	switch h.GetErrorCode() {
	case CodeNotFound:
		base = actors.ErrNotFound
	case CodeTooLarge:
		base = actors.ErrTooLarge
	case CodeNoSpace:
		base = actors.ErrNoSpace
	case CodeCollision:
		base = actors.ErrCollision
	case CodeInvalid:
		base = actors.ErrInvalidKey
	case CodeClosed:
		base = actors.ErrClosed
	case CodeCorrupt:
		base = actors.ErrCorrupt
	default:
		base = ErrRemote
	}
	return fmt.Errorf("%w: %s: %s", base, h.GetErrorCode(), h.GetError())
}

// send writes one request frame: header and payload pieces in one writev.
func (c *Client) send(ctx context.Context, h *messages.FrameHeader, payload [][]byte) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.nc.SetDeadline(dl)
	} else {
		_ = c.nc.SetDeadline(time.Time{})
	}
	c.nextID++
	h.RequestId = c.nextID
	var total uint64
	for _, p := range payload {
		total += uint64(len(p))
	}
	if h.Op != messages.Op_OP_MPUT {
		h.PayloadLength = total
	}
	out, err := AppendFrameHead(c.out[:0], h, total)
	if err != nil {
		return err
	}
	c.out = out
	c.vec = append(c.vec[:0], c.out)
	c.vec = append(c.vec, payload...)
	v := c.vec
	_, err = v.WriteTo(c.nc)
	clear(c.vec)
	return err
}

// recv reads the reply header of the request just sent; the payload is
// left for the caller. An error reply is returned as an error.
func (c *Client) recv() (Prefix, error) {
	p, err := c.fr.Next()
	if err != nil {
		return p, err
	}
	h := &c.fr.Header
	if h.GetRequestId() != c.nextID && h.GetRequestId() != 0 {
		return p, fmt.Errorf("%w: reply to request %d, expected %d", ErrMalformed, h.GetRequestId(), c.nextID)
	}
	if h.GetOp() == messages.Op_OP_ERROR {
		if err := c.fr.Discard(int64(p.PayloadLen)); err != nil {
			return p, err
		}
		return p, errorFrom(h)
	}
	return p, nil
}

// roundTrip sends h and reads a reply whose small payload it returns.
func (c *Client) roundTrip(ctx context.Context, h *messages.FrameHeader, payload [][]byte) ([]byte, error) {
	if err := c.send(ctx, h, payload); err != nil {
		return nil, err
	}
	p, err := c.recv()
	if err != nil {
		return nil, err
	}
	if p.PayloadLen == 0 {
		return nil, nil
	}
	b := make([]byte, p.PayloadLen)
	return b, c.fr.ReadPayload(b)
}

// Ping round-trips an empty request.
func (c *Client) Ping(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.roundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_PING}, nil)
	return err
}

// Put stores payload under id; meta's dtype, shape, TTL and epoch travel
// with it.
func (c *Client) Put(ctx context.Context, id artifact.ID, payload []byte, meta artifact.Meta) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := &messages.FrameHeader{Op: messages.Op_OP_PUT, Ids: []*messages.ArtifactID{messages.IDToProto(id)}}
	if meta.DType != 0 || len(meta.Shape) > 0 || meta.TTL > 0 || meta.Epoch > 0 || meta.Checksum != 0 {
		h.Meta = messages.MetaToProto(meta)
	}
	_, err := c.roundTrip(ctx, h, [][]byte{payload})
	return err
}

// Get reads id's payload into dst (grown when short) and returns it with
// its metadata.
func (c *Client) Get(ctx context.Context, dst []byte, id artifact.ID) ([]byte, artifact.Meta, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := &messages.FrameHeader{Op: messages.Op_OP_GET, Ids: []*messages.ArtifactID{messages.IDToProto(id)}}
	if err := c.send(ctx, h, nil); err != nil {
		return dst[:0], artifact.Meta{}, err
	}
	p, err := c.recv()
	if err != nil {
		return dst[:0], artifact.Meta{}, err
	}
	var meta artifact.Meta
	if m := c.fr.Header.GetMeta(); m != nil {
		if meta, err = messages.MetaFromProto(m); err != nil {
			return dst[:0], meta, fmt.Errorf("%w: reply meta: %w", ErrMalformed, err)
		}
	}
	if uint64(cap(dst)) < p.PayloadLen {
		dst = make([]byte, p.PayloadLen)
	}
	dst = dst[:p.PayloadLen]
	return dst, meta, c.fr.ReadPayload(dst)
}

func (c *Client) status(ctx context.Context, op messages.Op, ids []artifact.ID) ([]bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := &messages.FrameHeader{Op: op, Ids: make([]*messages.ArtifactID, len(ids))}
	for i, id := range ids {
		h.Ids[i] = messages.IDToProto(id)
	}
	b, err := c.roundTrip(ctx, h, nil)
	if err != nil {
		return nil, err
	}
	if len(b) != len(ids) {
		return nil, fmt.Errorf("%w: %d status bytes for %d ids", ErrMalformed, len(b), len(ids))
	}
	out := make([]bool, len(b))
	for i, s := range b {
		out[i] = s == 1
	}
	return out, nil
}

// Exists reports whether the node holds id.
func (c *Client) Exists(ctx context.Context, id artifact.ID) (bool, error) {
	s, err := c.status(ctx, messages.Op_OP_EXISTS, []artifact.ID{id})
	if err != nil {
		return false, err
	}
	return s[0], nil
}

// MExists reports, for each id, whether the node holds it.
func (c *Client) MExists(ctx context.Context, ids []artifact.ID) ([]bool, error) {
	return c.status(ctx, messages.Op_OP_MEXISTS, ids)
}

// Delete removes id; it reports whether the node held it.
func (c *Client) Delete(ctx context.Context, id artifact.ID) (bool, error) {
	s, err := c.status(ctx, messages.Op_OP_DELETE, []artifact.ID{id})
	if err != nil {
		return false, err
	}
	return s[0], nil
}

// MPut stores payloads[i] under ids[i] in one frame. It returns, per id,
// whether it was stored, and the first failure.
func (c *Client) MPut(ctx context.Context, ids []artifact.ID, payloads [][]byte) ([]bool, error) {
	if len(ids) != len(payloads) {
		return nil, fmt.Errorf("native: MPut: %d ids, %d payloads", len(ids), len(payloads))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h := &messages.FrameHeader{Op: messages.Op_OP_MPUT, Ids: make([]*messages.ArtifactID, len(ids)),
		PayloadLengths: make([]uint64, len(ids))}
	for i, id := range ids {
		h.Ids[i] = messages.IDToProto(id)
		h.PayloadLengths[i] = uint64(len(payloads[i]))
	}
	b, err := c.roundTrip(ctx, h, payloads)
	if err != nil {
		return nil, err
	}
	if len(b) != len(ids) {
		return nil, fmt.Errorf("%w: %d status bytes for %d ids", ErrMalformed, len(b), len(ids))
	}
	out := make([]bool, len(b))
	for i, s := range b {
		out[i] = s == 1
	}
	var first error
	if c.fr.Header.GetErrorCode() != "" {
		first = errorFrom(&c.fr.Header)
	}
	return out, first
}

// MGet reads every id; a missing artifact gives a nil entry.
func (c *Client) MGet(ctx context.Context, ids []artifact.ID) ([][]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := &messages.FrameHeader{Op: messages.Op_OP_MGET, Ids: make([]*messages.ArtifactID, len(ids))}
	for i, id := range ids {
		h.Ids[i] = messages.IDToProto(id)
	}
	if err := c.send(ctx, h, nil); err != nil {
		return nil, err
	}
	p, err := c.recv()
	if err != nil {
		return nil, err
	}
	lens := c.fr.Header.GetPayloadLengths()
	if len(lens) != len(ids) && !(len(ids) == 0 && p.PayloadLen == 0) {
		return nil, fmt.Errorf("%w: %d lengths for %d ids", ErrMalformed, len(lens), len(ids))
	}
	missing, err := parseMissing(c.fr.Header.GetAttrs()[MissingAttr], len(ids))
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(ids))
	for i, n := range lens {
		if len(missing) > 0 && missing[0] == i {
			missing = missing[1:]
			if n != 0 {
				return nil, fmt.Errorf("%w: missing id %d has %d payload bytes", ErrMalformed, i, n)
			}
			continue
		}
		out[i] = make([]byte, n)
		if err := c.fr.ReadPayload(out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Stats returns the node's engine stats as JSON.
func (c *Client) Stats(ctx context.Context) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.roundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_STATS}, nil)
}

// PutFrom streams n bytes from r as id's payload without buffering them in
// the client (a large chunk can come straight from a file or another
// socket). The node still receives the whole payload before storing it: a
// short r fails the request and closes the connection, storing nothing.
func (c *Client) PutFrom(ctx context.Context, id artifact.ID, r io.Reader, n int64, meta artifact.Meta) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := &messages.FrameHeader{Op: messages.Op_OP_PUT, Ids: []*messages.ArtifactID{messages.IDToProto(id)}}
	if meta.DType != 0 || len(meta.Shape) > 0 || meta.TTL > 0 || meta.Epoch > 0 || meta.Checksum != 0 {
		h.Meta = messages.MetaToProto(meta)
	}
	h.PayloadLength = uint64(n)
	if dl, ok := ctx.Deadline(); ok {
		_ = c.nc.SetDeadline(dl)
	} else {
		_ = c.nc.SetDeadline(time.Time{})
	}
	c.nextID++
	h.RequestId = c.nextID
	head, err := AppendFrameHead(c.out[:0], h, uint64(n))
	if err != nil {
		return err
	}
	c.out = head
	if _, err := c.nc.Write(head); err != nil {
		return err
	}
	if copied, err := io.CopyN(c.nc, r, n); err != nil {
		_ = c.nc.Close() // the frame is short: the stream cannot continue
		return fmt.Errorf("native: PutFrom: sent %d of %d bytes: %w", copied, n, err)
	}
	_, err = c.recv()
	return err
}

// GetTo streams id's payload into w without holding it in the client and
// returns its metadata.
func (c *Client) GetTo(ctx context.Context, w io.Writer, id artifact.ID) (artifact.Meta, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := &messages.FrameHeader{Op: messages.Op_OP_GET, Ids: []*messages.ArtifactID{messages.IDToProto(id)}}
	if err := c.send(ctx, h, nil); err != nil {
		return artifact.Meta{}, err
	}
	p, err := c.recv()
	if err != nil {
		return artifact.Meta{}, err
	}
	var meta artifact.Meta
	if m := c.fr.Header.GetMeta(); m != nil {
		if meta, err = messages.MetaFromProto(m); err != nil {
			return meta, fmt.Errorf("%w: reply meta: %w", ErrMalformed, err)
		}
	}
	if _, err := io.CopyN(w, c.br, int64(p.PayloadLen)); err != nil {
		_ = c.nc.Close()
		return meta, fmt.Errorf("native: GetTo: %w", err)
	}
	return meta, nil
}

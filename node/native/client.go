package native

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/messages/frame"
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

// Client is a small native-protocol client for tools, benchmarks and
// tests, over messages/frame's Conn (the framed client clientsdk and the
// cluster use too): safe for concurrent use, requests from several
// goroutines pipeline on its one connection. Put sends the payload without
// copying it; Get reads it straight into the caller's buffer.
type Client struct {
	c *frame.Conn
	// Hello is the attrs of the node's HELLO reply.
	Hello map[string]string
}

// Dial connects to addr and performs the HELLO handshake.
func Dial(ctx context.Context, addr string, o DialOptions) (*Client, error) {
	o.Limits.ensureDefaults()
	fc, rep, err := frame.Dial(ctx, addr, frame.DialConfig{TLS: o.TLS, Limits: o.Limits.frameLimits(),
		Hello: &messages.FrameHeader{Op: messages.Op_OP_HELLO, AuthToken: []byte(o.Token),
			Attrs: map[string]string{"version": strconv.Itoa(int(Version)), "client": o.Client}}})
	if err != nil {
		return nil, fmt.Errorf("native: hello: %w", clientErr(err))
	}
	return &Client{c: fc, Hello: rep.GetAttrs()}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.c.Close() }

// errorFrom maps an error code and text to the engine's sentinels.
func errorFrom(code, text string) error {
	var base error
	switch code {
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
	return fmt.Errorf("%w: %s: %s", base, code, text)
}

// clientErr maps an error reply to the engine's sentinels.
func clientErr(err error) error {
	var re *frame.RemoteError
	if errors.As(err, &re) {
		return errorFrom(re.Code, re.Message)
	}
	return err
}

// roundTrip sends h with payload and returns the reply, which the caller
// must Close.
func (c *Client) roundTrip(ctx context.Context, h *messages.FrameHeader, payload ...[]byte) (*frame.Reply, error) {
	rep, err := c.c.RoundTrip(ctx, h, payload...)
	return rep, clientErr(err)
}

// call runs a request whose reply's (small) payload it returns.
func (c *Client) call(ctx context.Context, h *messages.FrameHeader, payload ...[]byte) ([]byte, *messages.FrameHeader, error) {
	rep, err := c.roundTrip(ctx, h, payload...)
	if err != nil {
		return nil, nil, err
	}
	defer rep.Close()
	b, err := rep.Bytes()
	return b, rep.Header, err
}

// Ping round-trips an empty request.
func (c *Client) Ping(ctx context.Context) error {
	_, _, err := c.call(ctx, &messages.FrameHeader{Op: messages.Op_OP_PING})
	return err
}

func putHeader(id artifact.ID, meta artifact.Meta) *messages.FrameHeader {
	h := &messages.FrameHeader{Op: messages.Op_OP_PUT, Ids: []*messages.ArtifactID{messages.IDToProto(id)}}
	if meta.DType != 0 || len(meta.Shape) > 0 || meta.TTL > 0 || meta.Epoch > 0 || meta.Checksum != 0 {
		h.Meta = messages.MetaToProto(meta)
	}
	return h
}

// Put stores payload under id; meta's dtype, shape, TTL and epoch travel
// with it.
func (c *Client) Put(ctx context.Context, id artifact.ID, payload []byte, meta artifact.Meta) error {
	_, _, err := c.call(ctx, putHeader(id, meta), payload)
	return err
}

// replyMeta decodes a GET reply's metadata.
func replyMeta(h *messages.FrameHeader) (artifact.Meta, error) {
	m := h.GetMeta()
	if m == nil {
		return artifact.Meta{}, nil
	}
	meta, err := messages.MetaFromProto(m)
	if err != nil {
		return meta, fmt.Errorf("%w: reply meta: %w", ErrMalformed, err)
	}
	return meta, nil
}

// Get reads id's payload into dst (grown when short) and returns it with
// its metadata.
func (c *Client) Get(ctx context.Context, dst []byte, id artifact.ID) ([]byte, artifact.Meta, error) {
	rep, err := c.roundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_GET, Ids: []*messages.ArtifactID{messages.IDToProto(id)}})
	if err != nil {
		return dst[:0], artifact.Meta{}, err
	}
	defer rep.Close()
	meta, err := replyMeta(rep.Header)
	if err != nil {
		return dst[:0], meta, err
	}
	n := rep.Pending()
	if uint64(cap(dst)) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	return dst, meta, rep.ReadPayload(dst)
}

// statusBytes checks a reply of one status byte per id.
func statusBytes(b []byte, n int) ([]bool, error) {
	if len(b) != n {
		return nil, fmt.Errorf("%w: %d status bytes for %d ids", ErrMalformed, len(b), n)
	}
	out := make([]bool, len(b))
	for i, s := range b {
		out[i] = s == 1
	}
	return out, nil
}

func (c *Client) status(ctx context.Context, op messages.Op, ids []artifact.ID) ([]bool, error) {
	h := &messages.FrameHeader{Op: op, Ids: make([]*messages.ArtifactID, len(ids))}
	for i, id := range ids {
		h.Ids[i] = messages.IDToProto(id)
	}
	b, _, err := c.call(ctx, h)
	if err != nil {
		return nil, err
	}
	return statusBytes(b, len(ids))
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
	h := &messages.FrameHeader{Op: messages.Op_OP_MPUT, Ids: make([]*messages.ArtifactID, len(ids)),
		PayloadLengths: make([]uint64, len(ids))}
	for i, id := range ids {
		h.Ids[i] = messages.IDToProto(id)
		h.PayloadLengths[i] = uint64(len(payloads[i]))
	}
	b, rh, err := c.call(ctx, h, payloads...)
	if err != nil {
		return nil, err
	}
	out, err := statusBytes(b, len(ids))
	if err != nil {
		return nil, err
	}
	var first error
	if code := rh.GetErrorCode(); code != "" {
		first = errorFrom(code, rh.GetError())
	}
	return out, first
}

// MGet reads every id; a missing artifact gives a nil entry.
func (c *Client) MGet(ctx context.Context, ids []artifact.ID) ([][]byte, error) {
	h := &messages.FrameHeader{Op: messages.Op_OP_MGET, Ids: make([]*messages.ArtifactID, len(ids))}
	for i, id := range ids {
		h.Ids[i] = messages.IDToProto(id)
	}
	rep, err := c.roundTrip(ctx, h)
	if err != nil {
		return nil, err
	}
	defer rep.Close()
	lens := rep.Header.GetPayloadLengths()
	if len(lens) != len(ids) && !(len(ids) == 0 && rep.Pending() == 0) {
		return nil, fmt.Errorf("%w: %d lengths for %d ids", ErrMalformed, len(lens), len(ids))
	}
	missing, err := parseMissing(rep.Header.GetAttrs()[MissingAttr], len(ids))
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
		if err := rep.ReadPayload(out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Stats returns the node's engine stats as JSON.
func (c *Client) Stats(ctx context.Context) ([]byte, error) {
	b, _, err := c.call(ctx, &messages.FrameHeader{Op: messages.Op_OP_STATS})
	return b, err
}

// PutFrom streams n bytes from r as id's payload without buffering them in
// the client (a large chunk can come straight from a file or another
// socket). The node still receives the whole payload before storing it: a
// short r fails the request and closes the connection, storing nothing.
func (c *Client) PutFrom(ctx context.Context, id artifact.ID, r io.Reader, n int64, meta artifact.Meta) error {
	if n < 0 {
		return fmt.Errorf("native: PutFrom: negative length %d", n)
	}
	rep, err := c.c.RoundTripFrom(ctx, putHeader(id, meta), r, uint64(n))
	if err != nil {
		return fmt.Errorf("native: PutFrom: %w", clientErr(err))
	}
	return rep.Close()
}

// GetTo streams id's payload into w without holding it in the client and
// returns its metadata.
func (c *Client) GetTo(ctx context.Context, w io.Writer, id artifact.ID) (artifact.Meta, error) {
	rep, err := c.roundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_GET, Ids: []*messages.ArtifactID{messages.IDToProto(id)}})
	if err != nil {
		return artifact.Meta{}, err
	}
	defer rep.Close()
	meta, err := replyMeta(rep.Header)
	if err != nil {
		return meta, err
	}
	if _, err := rep.CopyPayload(w); err != nil {
		return meta, fmt.Errorf("native: GetTo: %w", err)
	}
	return meta, nil
}

package clientsdk

import (
	"context"
	"fmt"
	"sync"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/placement"
)

// Client talks to StrataCache nodes. It is safe for concurrent use; each
// request borrows a pooled connection to the node it routes to.
type Client struct {
	o     Options
	pool  *pool
	boff  *backoff
	bufs  sync.Pool // *Buffer for GetPooled
	close sync.Once
}

// New builds a client; it dials lazily, on the first request to a node.
func New(opts ...Option) (*Client, error) {
	o := DefaultOptions()
	for _, f := range opts {
		f(&o)
	}
	if o.Embedded == nil && o.Index == nil && len(o.Nodes) == 0 {
		return nil, fmt.Errorf("%w: give WithNodes, WithIndex or WithEmbedded", ErrNoNodes)
	}
	if o.Retries < 0 || o.MaxIdlePerNode < 0 || o.MaxConnsPerNode <= 0 {
		return nil, fmt.Errorf("%w: negative Retries or MaxIdlePerNode, or MaxConnsPerNode < 1", ErrInvalid)
	}
	c := &Client{o: o, pool: newPool(&o), boff: newBackoff(o.Seed, o.BackoffBase, o.BackoffMax)}
	c.pool.o = &c.o
	return c, nil
}

// Close closes idle connections; requests after it fail with ErrClosed.
// Safe to call twice.
func (c *Client) Close() error {
	c.close.Do(c.pool.close)
	return nil
}

// targets lists the addresses to try for an artifact hash, best first:
// the directory's owner, then the rendezvous home, then the others.
func (c *Client) targets(hash uint64) []string {
	if ix := c.o.Index; ix != nil {
		if t := ix.route(hash); len(t) > 0 {
			return t
		}
	}
	if len(c.o.Nodes) == 0 {
		return nil
	}
	home := placement.Home(hash, c.o.Nodes)
	out := make([]string, 0, len(c.o.Nodes))
	out = append(out, home)
	for _, a := range c.o.Nodes {
		if a != home {
			out = append(out, a)
		}
	}
	return out
}

// do runs fn on a connection to the artifact's node, retrying transient
// failures with backoff on the next candidate node.
func (c *Client) do(ctx context.Context, hash uint64, fn func(cn *conn) error) error {
	if c.o.RequestTimeout > 0 {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.o.RequestTimeout)
			defer cancel()
		}
	}
	addrs := c.targets(hash)
	if len(addrs) == 0 {
		return ErrNoNodes
	}
	var err error
	for attempt := 0; attempt <= c.o.Retries; attempt++ {
		if attempt > 0 {
			if werr := wait(ctx, c.boff.delay(attempt-1)); werr != nil {
				return fmt.Errorf("%w (last error: %v)", werr, err)
			}
		}
		addr := addrs[attempt%len(addrs)]
		var cn *conn
		cn, err = c.pool.get(ctx, addr)
		if err == nil {
			err = fn(cn)
			c.pool.put(addr, cn)
		}
		if err == nil || !transient(err) {
			return err
		}
		c.pool.drop(addr)
	}
	return err
}

func protoID(id artifact.ID) []*messages.ArtifactID {
	return []*messages.ArtifactID{messages.IDToProto(id)}
}

// Ping round-trips an empty request to every known node and returns the
// first error.
func (c *Client) Ping(ctx context.Context) error {
	if c.o.Embedded != nil {
		return nil
	}
	var addrs []string
	if c.o.Index != nil {
		addrs = c.o.Index.addrs()
	}
	if len(addrs) == 0 {
		addrs = c.o.Nodes
	}
	for _, a := range addrs {
		cn, err := c.pool.get(ctx, a)
		if err != nil {
			return err
		}
		_, err = cn.roundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_PING})
		c.pool.put(a, cn)
		if err != nil {
			return err
		}
	}
	return nil
}

// Put stores payload under id.
func (c *Client) Put(ctx context.Context, id artifact.ID, payload []byte) error {
	return c.PutMeta(ctx, id, payload, artifact.Meta{})
}

// PutMeta stores payload under id with meta's dtype, shape, TTL, epoch and
// (when non-zero) checksum, which the node verifies.
func (c *Client) PutMeta(ctx context.Context, id artifact.ID, payload []byte, meta artifact.Meta) error {
	if e := c.o.Embedded; e != nil {
		return embeddedErr(e, e.Store(ctx, id, payload, meta))
	}
	return c.do(ctx, id.Hash, func(cn *conn) error {
		h := &messages.FrameHeader{Op: messages.Op_OP_PUT, Ids: protoID(id)}
		if meta.DType != 0 || len(meta.Shape) > 0 || meta.TTL > 0 || meta.Epoch > 0 || meta.Checksum != 0 {
			h.Meta = messages.MetaToProto(meta)
		}
		_, err := cn.roundTrip(ctx, h, payload)
		return err
	})
}

// Get reads id's payload into dst (grown when its capacity is short) and
// returns it; ErrNotFound when no node holds it.
func (c *Client) Get(ctx context.Context, dst []byte, id artifact.ID) ([]byte, error) {
	out, _, err := c.GetMeta(ctx, dst, id)
	return out, err
}

// GetMeta is Get that also returns the artifact's metadata.
func (c *Client) GetMeta(ctx context.Context, dst []byte, id artifact.ID) ([]byte, artifact.Meta, error) {
	if e := c.o.Embedded; e != nil {
		b, m, err := e.Load(ctx, dst[:0], id)
		return b, m, embeddedErr(e, err)
	}
	var meta artifact.Meta
	err := c.do(ctx, id.Hash, func(cn *conn) error {
		rep, err := cn.request(ctx, &messages.FrameHeader{Op: messages.Op_OP_GET, Ids: protoID(id)})
		if err != nil {
			return err
		}
		defer rep.Close()
		if m := rep.Header.GetMeta(); m != nil {
			if meta, err = messages.MetaFromProto(m); err != nil {
				cn.broken = true
				return fmt.Errorf("%w: reply meta: %v", ErrProtocol, err)
			}
		}
		n := rep.Pending()
		if uint64(cap(dst)) < n {
			dst = make([]byte, n)
		}
		dst = dst[:n]
		if err := rep.ReadPayload(dst); err != nil {
			return cn.fail(err)
		}
		return nil
	})
	if err != nil {
		return dst[:0], meta, err
	}
	return dst, meta, nil
}

// Buffer is a pooled payload from GetPooled; Release hands it back.
type Buffer struct {
	B []byte
	c *Client
}

// Bytes is the payload; it is valid until Release.
func (b *Buffer) Bytes() []byte { return b.B }

// Release returns the buffer to the client's pool; b must not be used after.
func (b *Buffer) Release() {
	if b == nil || b.c == nil {
		return
	}
	c := b.c
	b.B = b.B[:0]
	c.bufs.Put(b)
}

// GetPooled reads id's payload into a pooled buffer (no allocation once
// the pool is warm); call Release when done.
func (c *Client) GetPooled(ctx context.Context, id artifact.ID) (*Buffer, error) {
	b, _ := c.bufs.Get().(*Buffer)
	if b == nil {
		b = &Buffer{c: c}
	}
	var err error
	b.B, err = c.Get(ctx, b.B[:0], id)
	if err != nil {
		b.Release()
		return nil, err
	}
	return b, nil
}

// statusOp runs EXISTS / DELETE / MEXISTS and decodes one byte per id.
func (c *Client) statusOp(ctx context.Context, op messages.Op, hash uint64, ids []artifact.ID) ([]bool, error) {
	var out []bool
	err := c.do(ctx, hash, func(cn *conn) error {
		h := &messages.FrameHeader{Op: op, Ids: make([]*messages.ArtifactID, len(ids))}
		for i, id := range ids {
			h.Ids[i] = messages.IDToProto(id)
		}
		b, err := cn.roundTrip(ctx, h)
		if err != nil {
			return err
		}
		if len(b) != len(ids) {
			cn.broken = true
			return fmt.Errorf("%w: %d status bytes for %d ids", ErrProtocol, len(b), len(ids))
		}
		out = make([]bool, len(b))
		for i, s := range b {
			out[i] = s == 1
		}
		return nil
	})
	return out, err
}

// Exists reports whether the cluster holds id (asked of its owner).
func (c *Client) Exists(ctx context.Context, id artifact.ID) (bool, error) {
	if e := c.o.Embedded; e != nil {
		ok, err := e.Contains(ctx, id)
		return ok, embeddedErr(e, err)
	}
	s, err := c.statusOp(ctx, messages.Op_OP_EXISTS, id.Hash, []artifact.ID{id})
	if err != nil {
		return false, err
	}
	return s[0], nil
}

// Delete removes id; it reports whether it was present.
func (c *Client) Delete(ctx context.Context, id artifact.ID) (bool, error) {
	if e := c.o.Embedded; e != nil {
		ok, err := e.Delete(ctx, id)
		return ok, embeddedErr(e, err)
	}
	s, err := c.statusOp(ctx, messages.Op_OP_DELETE, id.Hash, []artifact.ID{id})
	if err != nil {
		return false, err
	}
	return s[0], nil
}

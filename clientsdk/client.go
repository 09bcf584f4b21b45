package clientsdk

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
)

// Client talks to StrataCache nodes. It is safe for concurrent use; each
// request borrows a pooled connection to the node it routes to.
type Client struct {
	o Options
	// nodes holds the WithNodes addresses as members named by their
	// address: routing (rendezvous home) and member health work the same
	// with or without an Index.
	nodes *Index
	pool  *pool
	boff  *backoff
	bufs  sync.Pool // *Buffer for GetPooled
	close sync.Once
	// embeddedSettings are the embedded node's settings (nil when it does
	// not report them); warned lists the nodes whose settings mismatch
	// was reported (WithSettingsWarning).
	embeddedSettings *NodeSettings
	warned           sync.Map
	// hasher hashes prompts for Scores (WithHashConfig).
	hasher *Hasher
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
	c := &Client{o: o, boff: newBackoff(o.Seed, o.BackoffBase, o.BackoffMax)}
	c.pool = newPool(&c.o)
	c.pool.dial = c.dial
	if o.HashConfig != nil {
		h, err := NewHasher(*o.HashConfig)
		if err != nil {
			return nil, err
		}
		c.hasher = h
	}
	if err := c.attachEmbedded(); err != nil {
		return nil, err
	}
	c.nodes = NewIndex(ScoreConfig{})
	ms := make([]Member, 0, len(o.Nodes))
	for _, a := range o.Nodes {
		ms = append(ms, Member{Name: a, Addr: a})
	}
	c.nodes.SetMembers(ms)
	return c, nil
}

// Close closes idle connections; requests after it fail with ErrClosed.
// Safe to call twice.
func (c *Client) Close() error {
	c.close.Do(c.pool.close)
	return nil
}

// route plans a request for an artifact hash: with an Index that knows
// members with addresses, the directory's owner, then the rendezvous
// home, then the others; else the same over the WithNodes addresses.
func (c *Client) route(hash uint64) plan {
	if ix := c.o.Index; ix != nil {
		if p := ix.route(hash); len(p.addrs) > 0 {
			return p
		}
	}
	return c.nodes.route(hash)
}

// targets lists the addresses to try for an artifact hash, best first.
func (c *Client) targets(hash uint64) []string { return c.route(hash).addrs }

// do runs fn on a connection to the artifact's node, retrying transient
// failures with backoff on the next candidate node.
func (c *Client) do(ctx context.Context, hash uint64, fn func(cn *conn) error) error {
	_, err := c.run(ctx, hash, fn)
	return err
}

// run is do that also reports why the artifact's presumed holder could
// not be asked (nil when it answered, or was never needed): a read that
// misses everywhere else is then not a plain miss (unreachable).
func (c *Client) run(ctx context.Context, hash uint64, fn func(cn *conn) error) (holderErr error, err error) {
	caller := ctx
	if c.o.RequestTimeout > 0 {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.o.RequestTimeout)
			defer cancel()
		}
	}
	p := c.route(hash)
	if len(p.addrs) == 0 {
		return nil, ErrNoNodes
	}
	holderErr = p.holderDown
	for attempt := 0; attempt <= c.o.Retries; attempt++ {
		if attempt > 0 {
			if werr := wait(ctx, c.boff.delay(attempt-1)); werr != nil {
				return holderErr, c.deadline(caller, fmt.Errorf("%w (last error: %v)", werr, err))
			}
		}
		addr := p.addrs[attempt%len(p.addrs)]
		var cn *conn
		cn, err = c.pool.get(ctx, addr)
		if err == nil {
			err = fn(cn)
			c.pool.put(addr, cn)
		}
		if errors.Is(err, ErrUnavailable) {
			c.pool.drop(addr)
			if p.ix != nil {
				p.ix.markDownAddr(addr, err)
			}
			if addr == p.holder {
				holderErr = err
			}
		} else if err == nil || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			// The node answered (a result or an answer about the request).
			if p.ix != nil {
				p.ix.markUpAddr(addr)
			}
			if addr == p.holder {
				holderErr = nil
			}
		}
		if err == nil || !transient(err) {
			break
		}
	}
	return holderErr, c.deadline(caller, err)
}

// deadline names a timeout of the client's own RequestTimeout (the
// caller's context still live) as the node's unavailability.
func (c *Client) deadline(caller context.Context, err error) error {
	if err != nil && errors.Is(err, context.DeadlineExceeded) && caller.Err() == nil {
		return fmt.Errorf("%w: no answer within the request timeout (%v): %w", ErrUnavailable, c.o.RequestTimeout, err)
	}
	return err
}

// unreachable turns a miss into what it is when the artifact's holder
// could not be asked: ErrUnavailable, or (WithUnavailableAsMiss) a miss
// that says so.
func (c *Client) unreachable(holderErr, miss error) error {
	if c.o.UnavailableAsMiss {
		return fmt.Errorf("%w: its holder is unreachable (%v)", ErrNotFound, holderErr)
	}
	return fmt.Errorf("%w; the other nodes do not have it (%v)", holderErr, miss)
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
		if err := c.On(a).Ping(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Put stores payload under id on the node it routes to (the directory's
// owner, else its rendezvous home). To store on a node of your choosing,
// use On(node).Put.
func (c *Client) Put(ctx context.Context, id artifact.ID, payload []byte) error {
	return c.PutMeta(ctx, id, payload, artifact.Meta{})
}

// PutMeta stores payload under id with meta's dtype, shape, TTL, epoch and
// (when non-zero) checksum, which the node verifies.
func (c *Client) PutMeta(ctx context.Context, id artifact.ID, payload []byte, meta artifact.Meta) error {
	if e := c.o.Embedded; e != nil {
		if err := c.embeddedSettings.checkPayload(len(payload)); err != nil {
			return err
		}
		return embeddedErr(e, e.Store(ctx, id, payload, meta))
	}
	return c.do(ctx, id.Hash, func(cn *conn) error {
		return cn.put(ctx, id, payload, meta, !c.o.skipLimitCheck)
	})
}

// Get reads id's payload into dst (grown when its capacity is short) and
// returns it. ErrNotFound when no node holds it; ErrUnavailable when its
// holder cannot be reached and no other node has it (see
// WithUnavailableAsMiss).
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
	holderErr, err := c.run(ctx, id.Hash, func(cn *conn) error {
		var err error
		dst, meta, err = cn.get(ctx, dst, id)
		return err
	})
	if holderErr != nil && errors.Is(err, ErrNotFound) {
		err = c.unreachable(holderErr, err)
	}
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

// statusOp runs EXISTS / DELETE / MEXISTS on the node hash routes to.
func (c *Client) statusOp(ctx context.Context, op messages.Op, hash uint64, ids []artifact.ID) ([]bool, error) {
	out, _, err := c.statusRun(ctx, op, hash, ids)
	return out, err
}

// statusRun is statusOp that also says why the presumed holder of hash
// could not be asked (Client.run).
func (c *Client) statusRun(ctx context.Context, op messages.Op, hash uint64, ids []artifact.ID) (out []bool, holderErr, err error) {
	holderErr, err = c.run(ctx, hash, func(cn *conn) error {
		var err error
		out, err = cn.status(ctx, op, ids)
		return err
	})
	return out, holderErr, err
}

// Exists reports whether the cluster holds id (asked of its owner);
// ErrUnavailable when its holder cannot be reached and no other node has
// it (see WithUnavailableAsMiss).
func (c *Client) Exists(ctx context.Context, id artifact.ID) (bool, error) {
	if e := c.o.Embedded; e != nil {
		ok, err := e.Contains(ctx, id)
		return ok, embeddedErr(e, err)
	}
	s, holderErr, err := c.statusRun(ctx, messages.Op_OP_EXISTS, id.Hash, []artifact.ID{id})
	if err != nil {
		return false, err
	}
	if !s[0] && holderErr != nil && !c.o.UnavailableAsMiss {
		return false, c.unreachable(holderErr, fmt.Errorf("%w: %s", ErrNotFound, id))
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

package clientsdk

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
)

// NodeClient sends requests to one node only: placement control for
// schedulers that store KV where the request will run. A Put through it
// stores on that node (its own tiers; in a cluster the directory then
// lists it as a holder); a Get asks that node (whose chain may still read
// the artifact from another node through its remote tier). Transient
// failures are retried on the same node, never elsewhere. Get it from
// Client.On; it is as safe for concurrent use as the Client.
type NodeClient struct {
	c    *Client
	node string
}

// On returns a NodeClient for node: a member name known to the Index
// (resolved to its native address at each request, so it follows the
// member's address), or a host:port address. In embedded mode every node
// is the in-process one.
func (c *Client) On(node string) *NodeClient { return &NodeClient{c: c, node: node} }

// Node is the name or address the NodeClient was made for.
func (n *NodeClient) Node() string { return n.node }

// resolve finds the node's native address and the index that tracks its
// health (nil when none does).
func (n *NodeClient) resolve() (string, *Index, error) {
	for _, ix := range []*Index{n.c.o.Index, n.c.nodes} {
		if ix == nil {
			continue
		}
		if a, ok := ix.addrOf(n.node); ok {
			if a == "" {
				return "", nil, fmt.Errorf("%w: member %q has no native address yet", ErrUnavailable, n.node)
			}
			return a, ix, nil
		}
	}
	if _, _, err := net.SplitHostPort(n.node); err != nil {
		return "", nil, fmt.Errorf("%w: node %q is neither a known member nor host:port", ErrInvalid, n.node)
	}
	var ix *Index
	if n.c.o.Index != nil && n.c.o.Index.hasAddr(n.node) {
		ix = n.c.o.Index
	} else if n.c.nodes.hasAddr(n.node) {
		ix = n.c.nodes
	}
	return n.node, ix, nil
}

// do runs fn on a connection to the node, retrying transient failures on
// the same node with backoff; it marks the node down (or up) in the index
// that tracks it.
func (n *NodeClient) do(ctx context.Context, fn func(cn *conn) error) error {
	c := n.c
	caller := ctx
	if c.o.RequestTimeout > 0 {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.o.RequestTimeout)
			defer cancel()
		}
	}
	addr, ix, err := n.resolve()
	if err != nil {
		return err
	}
	for attempt := 0; attempt <= c.o.Retries; attempt++ {
		if attempt > 0 {
			if werr := wait(ctx, c.boff.delay(attempt-1)); werr != nil {
				return c.deadline(caller, fmt.Errorf("%w (last error: %v)", werr, err))
			}
		}
		var cn *conn
		cn, err = c.pool.get(ctx, addr)
		if err == nil {
			err = fn(cn)
			c.pool.put(addr, cn)
		}
		switch {
		case errors.Is(err, ErrUnavailable):
			c.pool.drop(addr)
			if ix != nil {
				ix.markDownAddr(addr, err)
			}
		case err == nil || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled):
			if ix != nil {
				ix.markUpAddr(addr)
			}
		}
		if err == nil || !transient(err) {
			break
		}
	}
	return c.deadline(caller, err)
}

// Ping round-trips an empty request to the node.
func (n *NodeClient) Ping(ctx context.Context) error {
	if n.c.o.Embedded != nil {
		return nil
	}
	return n.do(ctx, func(cn *conn) error { return cn.ping(ctx) })
}

// Put stores payload under id on this node.
func (n *NodeClient) Put(ctx context.Context, id artifact.ID, payload []byte) error {
	return n.PutMeta(ctx, id, payload, artifact.Meta{})
}

// PutMeta is Put with metadata (Client.PutMeta).
func (n *NodeClient) PutMeta(ctx context.Context, id artifact.ID, payload []byte, meta artifact.Meta) error {
	if n.c.o.Embedded != nil {
		return n.c.PutMeta(ctx, id, payload, meta)
	}
	return n.do(ctx, func(cn *conn) error { return cn.put(ctx, id, payload, meta, !n.c.o.skipLimitCheck) })
}

// Get reads id's payload from this node into dst (grown when short);
// ErrNotFound when the node (through its chain) does not find it.
func (n *NodeClient) Get(ctx context.Context, dst []byte, id artifact.ID) ([]byte, error) {
	b, _, err := n.GetMeta(ctx, dst, id)
	return b, err
}

// GetMeta is Get that also returns the artifact's metadata.
func (n *NodeClient) GetMeta(ctx context.Context, dst []byte, id artifact.ID) ([]byte, artifact.Meta, error) {
	if n.c.o.Embedded != nil {
		return n.c.GetMeta(ctx, dst, id)
	}
	var meta artifact.Meta
	err := n.do(ctx, func(cn *conn) error {
		var err error
		dst, meta, err = cn.get(ctx, dst, id)
		return err
	})
	if err != nil {
		return dst[:0], meta, err
	}
	return dst, meta, nil
}

// Exists reports whether this node (through its chain) holds id.
func (n *NodeClient) Exists(ctx context.Context, id artifact.ID) (bool, error) {
	return n.status(ctx, messages.Op_OP_EXISTS, id)
}

// Delete removes id from this node; it reports whether it was present.
func (n *NodeClient) Delete(ctx context.Context, id artifact.ID) (bool, error) {
	return n.status(ctx, messages.Op_OP_DELETE, id)
}

func (n *NodeClient) status(ctx context.Context, op messages.Op, id artifact.ID) (bool, error) {
	if n.c.o.Embedded != nil {
		if op == messages.Op_OP_DELETE {
			return n.c.Delete(ctx, id)
		}
		return n.c.Exists(ctx, id)
	}
	var out []bool
	err := n.do(ctx, func(cn *conn) error {
		var err error
		out, err = cn.status(ctx, op, []artifact.ID{id})
		return err
	})
	if err != nil {
		return false, err
	}
	return out[0], nil
}

// Settings returns what the node announced in its HELLO.
func (n *NodeClient) Settings(ctx context.Context) (NodeSettings, error) {
	return n.c.Settings(ctx, n.node)
}

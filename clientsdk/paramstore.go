package clientsdk

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
)

// ParamStore stores and loads one model's parameter chunks
// (artifact.ParamKey: "<model>/<name>#<chunk>") and asks their owners to
// warm them into the CPU tier ahead of use.
type ParamStore struct {
	c     *Client
	model string
}

// ParamStore returns the parameter store of model.
func (c *Client) ParamStore(model string) *ParamStore { return &ParamStore{c: c, model: model} }

// ParamRef names one chunk of a parameter.
type ParamRef struct {
	Name  string
	Chunk int
}

func (p *ParamStore) id(name string, chunk int) (artifact.ID, error) {
	id, err := artifact.ParamKey{Model: p.model, Name: name, Chunk: chunk}.ID()
	if err != nil {
		return id, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return id, nil
}

// PutChunk stores chunk of parameter name.
func (p *ParamStore) PutChunk(ctx context.Context, name string, chunk int, payload []byte) error {
	id, err := p.id(name, chunk)
	if err != nil {
		return err
	}
	return p.c.Put(ctx, id, payload)
}

// GetChunk reads chunk of parameter name into dst (grown when short).
func (p *ParamStore) GetChunk(ctx context.Context, dst []byte, name string, chunk int) ([]byte, error) {
	id, err := p.id(name, chunk)
	if err != nil {
		return dst[:0], err
	}
	return p.c.Get(ctx, dst, id)
}

// maxProbe bounds the chunks Prefetch looks for per parameter.
const maxProbe = 1 << 16

// Prefetch asks the owners of every chunk of the named parameters to
// promote them into their top (CPU) tier, and returns how many chunks were
// warmed. A parameter's chunks are 0, 1, ... up to the first that the
// cluster does not hold (found with MEXISTS, 64 at a time). A name whose
// chunk 0 the cluster does not hold is an error wrapping ErrNotFound
// (naming every such parameter), and nothing is prefetched.
func (p *ParamStore) Prefetch(ctx context.Context, names ...string) (int, error) {
	var refs []ParamRef
	var unknown []string
	for _, name := range names {
		before := len(refs)
		for base := 0; base < maxProbe; base += 64 {
			ids := make([]artifact.ID, 64)
			for i := range ids {
				id, err := p.id(name, base+i)
				if err != nil {
					return 0, err
				}
				ids[i] = id
			}
			ok, err := p.c.MExists(ctx, ids)
			if err != nil {
				return 0, err
			}
			n := 0
			for n < len(ok) && ok[n] {
				refs = append(refs, ParamRef{Name: name, Chunk: base + n})
				n++
			}
			if n < len(ok) {
				break
			}
		}
		if len(refs) == before {
			unknown = append(unknown, strconv.Quote(name))
		}
	}
	if len(unknown) > 0 {
		return 0, fmt.Errorf("%w: prefetch: the cluster holds no chunk of parameter %s of model %q",
			ErrNotFound, strings.Join(unknown, ", "), p.model)
	}
	return p.PrefetchChunks(ctx, refs...)
}

// PrefetchChunks asks each chunk's owner to promote it into its top tier,
// one request per node, nodes in parallel; it returns how many chunks were
// warmed.
//
// The node's client port has no prefetch op: the request is the
// cluster's OP_PEER_PREFETCH, sent to the owner's peer port (Member.
// PeerAddr, with WithPeerToken) when the index knows it, else to the
// native port (a node that answers it unsupported gets, instead, a GET per
// chunk whose payload is dropped: the read promotes the chunk but costs
// its transfer).
func (p *ParamStore) PrefetchChunks(ctx context.Context, refs ...ParamRef) (int, error) {
	ids := make([]artifact.ID, len(refs))
	for i, r := range refs {
		id, err := p.id(r.Name, r.Chunk)
		if err != nil {
			return 0, err
		}
		ids[i] = id
	}
	if e := p.c.o.Embedded; e != nil {
		n, err := e.Prefetch(ctx, ids)
		return n, embeddedErr(e, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	groups := p.c.groups(ids)
	warmed := make([]int, len(groups))
	for gi, idx := range groups {
		sub := make([]artifact.ID, len(idx))
		for j, i := range idx {
			sub[j] = ids[i]
		}
		g.Go(func() error {
			n, err := p.c.prefetch(gctx, sub)
			warmed[gi] = n
			return err
		})
	}
	err := g.Wait()
	total := 0
	for _, n := range warmed {
		total += n
	}
	return total, err
}

// prefetch warms ids, which all route to the same node.
func (c *Client) prefetch(ctx context.Context, ids []artifact.ID) (int, error) {
	addrs := c.targets(ids[0].Hash)
	if len(addrs) == 0 {
		return 0, ErrNoNodes
	}
	key := addrs[0]
	if c.o.Index != nil {
		if pa := c.o.Index.peerAddrOf(addrs[0]); pa != "" {
			key = peerPrefix + pa
		}
	}
	h := &messages.FrameHeader{Op: messages.Op_OP_PEER_PREFETCH, Ids: make([]*messages.ArtifactID, len(ids))}
	for i, id := range ids {
		h.Ids[i] = messages.IDToProto(id)
	}
	cn, err := c.pool.get(ctx, key)
	if err != nil {
		return 0, err
	}
	_, err = cn.roundTrip(ctx, h)
	attrs := cn.hdr.GetAttrs()
	c.pool.put(key, cn)
	if errors.Is(err, ErrUnsupported) {
		return c.prefetchByRead(ctx, ids)
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(attrs["warmed"])
	if err != nil {
		return 0, fmt.Errorf("%w: warmed attr %q", ErrProtocol, attrs["warmed"])
	}
	return n, nil
}

// prefetchByRead warms ids by reading them (the node promotes on a hit).
func (c *Client) prefetchByRead(ctx context.Context, ids []artifact.ID) (int, error) {
	n := 0
	for _, id := range ids {
		b, err := c.GetPooled(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		b.Release()
		n++
	}
	return n, nil
}

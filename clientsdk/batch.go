package clientsdk

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
)

// groups splits ids by the node they route to: one batch frame per node.
// Each group is a list of indices into ids; the key is the first id's hash
// (which routes the group).
func (c *Client) groups(ids []artifact.ID) [][]int {
	by := map[string][]int{}
	var order []string
	for i, id := range ids {
		t := c.targets(id.Hash)
		k := ""
		if len(t) > 0 {
			k = t[0]
		}
		if _, ok := by[k]; !ok {
			order = append(order, k)
		}
		by[k] = append(by[k], i)
	}
	out := make([][]int, 0, len(order))
	for _, k := range order {
		out = append(out, by[k])
	}
	return out
}

// MExists reports, per id, whether the cluster holds it (one frame per
// node, nodes asked in parallel).
func (c *Client) MExists(ctx context.Context, ids []artifact.ID) ([]bool, error) {
	out := make([]bool, len(ids))
	if e := c.o.Embedded; e != nil {
		for i, id := range ids {
			ok, err := e.Contains(ctx, id)
			if err != nil {
				return nil, embeddedErr(e, err)
			}
			out[i] = ok
		}
		return out, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, idx := range c.groups(ids) {
		sub := make([]artifact.ID, len(idx))
		for j, i := range idx {
			sub[j] = ids[i]
		}
		g.Go(func() error {
			s, err := c.statusOp(gctx, messages.Op_OP_MEXISTS, sub[0].Hash, sub)
			if err != nil {
				return err
			}
			for j, i := range idx {
				out[i] = s[j]
			}
			return nil
		})
	}
	return out, g.Wait()
}

// MPut stores payloads[i] under ids[i], one frame per node. It reports per
// id whether it was stored and returns the first failure.
func (c *Client) MPut(ctx context.Context, ids []artifact.ID, payloads [][]byte) ([]bool, error) {
	if len(ids) != len(payloads) {
		return nil, fmt.Errorf("%w: MPut of %d ids and %d payloads", ErrInvalid, len(ids), len(payloads))
	}
	out := make([]bool, len(ids))
	if e := c.o.Embedded; e != nil {
		if err := c.embeddedSettings.checkBatch(len(ids), payloads); err != nil {
			return out, err
		}
		var first error
		for i, id := range ids {
			err := e.Store(ctx, id, payloads[i], artifact.Meta{})
			out[i] = err == nil
			if err != nil && first == nil {
				first = embeddedErr(e, err)
			}
		}
		return out, first
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, idx := range c.groups(ids) {
		g.Go(func() error {
			h := &messages.FrameHeader{Op: messages.Op_OP_MPUT, Ids: make([]*messages.ArtifactID, len(idx)),
				PayloadLengths: make([]uint64, len(idx))}
			pl := make([][]byte, len(idx))
			for j, i := range idx {
				h.Ids[j] = messages.IDToProto(ids[i])
				h.PayloadLengths[j] = uint64(len(payloads[i]))
				pl[j] = payloads[i]
			}
			return c.do(gctx, ids[idx[0]].Hash, func(cn *conn) error {
				if !c.o.skipLimitCheck {
					if err := cn.settings.checkBatch(len(idx), pl); err != nil {
						return err
					}
				}
				b, err := cn.roundTrip(gctx, h, pl...)
				if err != nil {
					return err
				}
				if len(b) != len(idx) {
					cn.broken = true
					return fmt.Errorf("%w: %d status bytes for %d ids", ErrProtocol, len(b), len(idx))
				}
				for j, i := range idx {
					out[i] = b[j] == 1
				}
				if cn.hdr.GetErrorCode() != "" {
					return replyError(cn.hdr)
				}
				return nil
			})
		})
	}
	return out, g.Wait()
}

// MGet reads every id, one frame per node; a miss is a nil entry.
func (c *Client) MGet(ctx context.Context, ids []artifact.ID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	if e := c.o.Embedded; e != nil {
		for i, id := range ids {
			b, _, err := e.Load(ctx, nil, id)
			if err != nil {
				if err = embeddedErr(e, err); isNotFound(err) {
					continue
				}
				return nil, err
			}
			out[i] = b
		}
		return out, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, idx := range c.groups(ids) {
		g.Go(func() error {
			h := &messages.FrameHeader{Op: messages.Op_OP_MGET, Ids: make([]*messages.ArtifactID, len(idx))}
			for j, i := range idx {
				h.Ids[j] = messages.IDToProto(ids[i])
			}
			return c.do(gctx, ids[idx[0]].Hash, func(cn *conn) error {
				return cn.mget(gctx, h, idx, out)
			})
		})
	}
	return out, g.Wait()
}

// mget runs one MGET frame and places each hit at out[idx[j]].
func (cn *conn) mget(ctx context.Context, h *messages.FrameHeader, idx []int, out [][]byte) error {
	rep, err := cn.request(ctx, h)
	if err != nil {
		return err
	}
	defer rep.Close()
	lens := rep.Header.GetPayloadLengths()
	if len(lens) != len(idx) {
		cn.broken = true
		return fmt.Errorf("%w: %d lengths for %d ids", ErrProtocol, len(lens), len(idx))
	}
	missing, err := parseMissing(rep.Header.GetAttrs()["missing"], len(idx))
	if err != nil {
		cn.broken = true
		return err
	}
	for j, n := range lens {
		if missing[j] {
			continue
		}
		if n > rep.Pending() {
			cn.broken = true
			return fmt.Errorf("%w: payload lengths exceed the reply", ErrProtocol)
		}
		b := make([]byte, n)
		if err := rep.ReadPayload(b); err != nil {
			return cn.fail(err)
		}
		out[idx[j]] = b
	}
	return nil
}

// parseMissing decodes MGET's attrs["missing"]: ascending, comma-separated
// indices of the ids that were not found.
func parseMissing(s string, n int) ([]bool, error) {
	m := make([]bool, n)
	if s == "" {
		return m, nil
	}
	prev := -1
	for _, f := range strings.Split(s, ",") {
		i, err := strconv.Atoi(f)
		if err != nil || i <= prev || i >= n {
			return nil, fmt.Errorf("%w: missing attr %q", ErrProtocol, s)
		}
		m[i], prev = true, i
	}
	return m, nil
}

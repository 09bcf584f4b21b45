package clientsdk

import (
	"context"
	"fmt"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
)

// The requests of the native protocol on one connection, shared by the
// routed Client and the per-node NodeClient.

func protoID(id artifact.ID) []*messages.ArtifactID {
	return []*messages.ArtifactID{messages.IDToProto(id)}
}

// put sends one PUT. A payload over the node's max_payload (from its
// HELLO) is refused here, before a byte is sent.
func (cn *conn) put(ctx context.Context, id artifact.ID, payload []byte, meta artifact.Meta, check bool) error {
	if check {
		if err := cn.settings.checkPayload(len(payload)); err != nil {
			return err
		}
	}
	h := &messages.FrameHeader{Op: messages.Op_OP_PUT, Ids: protoID(id)}
	if meta.DType != 0 || len(meta.Shape) > 0 || meta.TTL > 0 || meta.Epoch > 0 || meta.Checksum != 0 {
		h.Meta = messages.MetaToProto(meta)
	}
	_, err := cn.roundTrip(ctx, h, payload)
	return err
}

// get reads one artifact into dst (grown when short).
func (cn *conn) get(ctx context.Context, dst []byte, id artifact.ID) ([]byte, artifact.Meta, error) {
	var meta artifact.Meta
	rep, err := cn.request(ctx, &messages.FrameHeader{Op: messages.Op_OP_GET, Ids: protoID(id)})
	if err != nil {
		return dst[:0], meta, err
	}
	defer rep.Close()
	if m := rep.Header.GetMeta(); m != nil {
		if meta, err = messages.MetaFromProto(m); err != nil {
			cn.broken = true
			return dst[:0], meta, fmt.Errorf("%w: reply meta: %v", ErrProtocol, err)
		}
	}
	n := rep.Pending()
	if uint64(cap(dst)) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	if err := rep.ReadPayload(dst); err != nil {
		return dst[:0], meta, cn.fail(err)
	}
	return dst, meta, nil
}

// locate runs LOCATE: where id lives in the node's CXL pool.
func (cn *conn) locate(ctx context.Context, id artifact.ID) (*messages.PoolLocation, error) {
	if _, err := cn.roundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_LOCATE, Ids: protoID(id)}); err != nil {
		return nil, err
	}
	loc := cn.hdr.GetLocation()
	if loc == nil {
		cn.broken = true
		return nil, fmt.Errorf("%w: LOCATE reply without a location", ErrProtocol)
	}
	return loc, nil
}

// status runs EXISTS / DELETE / MEXISTS and decodes one byte per id.
func (cn *conn) status(ctx context.Context, op messages.Op, ids []artifact.ID) ([]bool, error) {
	h := &messages.FrameHeader{Op: op, Ids: make([]*messages.ArtifactID, len(ids))}
	for i, id := range ids {
		h.Ids[i] = messages.IDToProto(id)
	}
	b, err := cn.roundTrip(ctx, h)
	if err != nil {
		return nil, err
	}
	if len(b) != len(ids) {
		cn.broken = true
		return nil, fmt.Errorf("%w: %d status bytes for %d ids", ErrProtocol, len(b), len(ids))
	}
	out := make([]bool, len(b))
	for i, s := range b {
		out[i] = s == 1
	}
	return out, nil
}

// ping round-trips an empty request.
func (cn *conn) ping(ctx context.Context) error {
	_, err := cn.roundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_PING})
	return err
}

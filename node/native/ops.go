package native

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/node/internal/inflight"
	"github.com/stratacache/stratacache/tiers"
)

// Error codes carried in FrameHeader.error_code. Clients map them back to
// the engine's sentinel errors.
const (
	CodeNotFound    = "not_found"
	CodeTooLarge    = "too_large"
	CodeNoSpace     = "no_space"
	CodeCollision   = "collision"
	CodeInvalid     = "invalid_argument"
	CodeClosed      = "closed"
	CodeAuth        = "auth"
	CodeProtocol    = "protocol"
	CodeUnsupported = "unsupported"
	CodeBusy        = "busy"
	CodeCorrupt     = "corrupt"
	CodeInternal    = "internal"
)

// codeOf names an error for the wire.
func codeOf(err error) string {
	switch {
	case errors.Is(err, actors.ErrNotFound):
		return CodeNotFound
	case errors.Is(err, inflight.ErrBusy):
		return CodeBusy
	case errors.Is(err, actors.ErrTooLarge), errors.Is(err, ErrTooLarge):
		return CodeTooLarge
	case errors.Is(err, actors.ErrNoSpace):
		return CodeNoSpace
	case errors.Is(err, actors.ErrCollision):
		return CodeCollision
	case errors.Is(err, actors.ErrCorrupt):
		return CodeCorrupt
	case errors.Is(err, actors.ErrInvalidKey), errors.Is(err, artifact.ErrEmptyKey),
		errors.Is(err, artifact.ErrKeyTooLong), errors.Is(err, artifact.ErrUnknownNamespace),
		errors.Is(err, messages.ErrNilID), errors.Is(err, messages.ErrHashMismatch):
		return CodeInvalid
	case errors.Is(err, actors.ErrClosed), errors.Is(err, tiers.ErrClosed):
		return CodeClosed
	case errors.Is(err, ErrBadMagic), errors.Is(err, ErrBadVersion), errors.Is(err, ErrMalformed):
		return CodeProtocol
	}
	return CodeInternal
}

func errorHeader(reqID uint64, code, msg string) *messages.FrameHeader {
	return &messages.FrameHeader{RequestId: reqID, Op: messages.Op_OP_ERROR, ErrorCode: code, Error: msg}
}

// reply appends a reply frame without payload (or with a small one).
func (c *conn) reply(h *messages.FrameHeader, payload []byte) {
	h.PayloadLength = uint64(len(payload))
	out, err := AppendFrameHead(c.out, h, uint64(len(payload)))
	if err != nil {
		out, _ = AppendFrameHead(c.out, errorHeader(h.RequestId, CodeInternal, err.Error()), 0)
		payload = nil
	}
	c.out = append(out, payload...)
}

func (c *conn) replyError(reqID uint64, code, msg string) {
	c.reply(errorHeader(reqID, code, msg), nil)
}

func (c *conn) replyErr(reqID uint64, err error) { c.replyError(reqID, codeOf(err), err.Error()) }

// writeLarge sends the buffered replies followed by payload pieces in one
// writev, without copying them.
func (c *conn) writeLarge(pieces ...[]byte) error {
	c.vec = append(c.vec[:0], c.out)
	c.vec = append(c.vec, pieces...)
	err := c.nc.WriteBuffers(c.vec)
	clear(c.vec)
	c.vec = c.vec[:0]
	c.resetOut()
	return err
}

// handle serves one request whose prefix and header have been read. It
// returns an error only when the connection must be closed; the error reply
// (if any) is already buffered.
func (c *conn) handle(p Prefix) error {
	h := &c.fr.Header
	reqID := h.GetRequestId()
	if !c.hello && h.GetOp() != messages.Op_OP_HELLO {
		c.replyError(reqID, CodeAuth, "the first frame must be HELLO")
		return errors.New("no hello")
	}
	switch h.GetOp() {
	case messages.Op_OP_HELLO:
		return c.onHello(reqID, p)
	case messages.Op_OP_PING:
		if err := c.fr.Discard(int64(p.PayloadLen)); err != nil {
			return err
		}
		c.reply(&messages.FrameHeader{RequestId: reqID, Op: messages.Op_OP_REPLY}, nil)
	case messages.Op_OP_PUT:
		return c.onPut(reqID, p)
	case messages.Op_OP_GET:
		return c.onGet(reqID)
	case messages.Op_OP_EXISTS, messages.Op_OP_MEXISTS, messages.Op_OP_DELETE:
		return c.onStatusOp(reqID, h.GetOp())
	case messages.Op_OP_MPUT:
		return c.onMPut(reqID)
	case messages.Op_OP_MGET:
		return c.onMGet(reqID)
	case messages.Op_OP_LOCATE:
		if err := c.fr.Discard(int64(p.PayloadLen)); err != nil {
			return err
		}
		c.onLocate(reqID)
	case messages.Op_OP_MEMBERS:
		if err := c.fr.Discard(int64(p.PayloadLen)); err != nil {
			return err
		}
		var ms []*messages.MemberInfo
		if f := c.s.cfg.Members; f != nil {
			ms = f()
		}
		c.reply(&messages.FrameHeader{RequestId: reqID, Op: messages.Op_OP_REPLY, Members: ms}, nil)
	case messages.Op_OP_STATS:
		var es actors.EngineStats
		c.s.cfg.Engine.Stats(&es)
		b, err := json.Marshal(es)
		if err != nil {
			c.replyErr(reqID, err)
			return nil
		}
		c.reply(&messages.FrameHeader{RequestId: reqID, Op: messages.Op_OP_REPLY,
			Attrs: map[string]string{"content-type": "application/json"}}, b)
	default:
		if err := c.fr.Discard(int64(p.PayloadLen)); err != nil {
			return err
		}
		c.replyError(reqID, CodeUnsupported, fmt.Sprintf("op %s not served by this node", h.GetOp()))
	}
	return nil
}

func (c *conn) onHello(reqID uint64, p Prefix) error {
	h := &c.fr.Header
	if p.PayloadLen != 0 {
		c.replyError(reqID, CodeProtocol, "HELLO carries no payload")
		return errors.New("hello with payload")
	}
	if v, ok := h.GetAttrs()["version"]; ok && v != strconv.Itoa(int(Version)) {
		c.replyError(reqID, CodeUnsupported, "protocol version "+v+" not supported (this node speaks "+strconv.Itoa(int(Version))+")")
		return errors.New("bad hello version")
	}
	if tok := c.s.cfg.Token; tok.Required() && !tok.Check(h.GetAuthToken()) {
		c.s.authFailures.Add(1)
		c.replyError(reqID, CodeAuth, "invalid auth token")
		return errors.New("auth failed")
	}
	c.authenticated()
	attrs := HelloAttrs(c.s.lim)
	for k, v := range c.s.cfg.Attrs {
		attrs[k] = v
	}
	c.reply(&messages.FrameHeader{RequestId: reqID, Op: messages.Op_OP_REPLY, Attrs: attrs}, nil)
	return nil
}

// HelloAttrs are the attributes of a HELLO reply that the server itself
// sets: software, protocol version and the limits lim (ServerConfig.Attrs
// adds the node's settings).
func HelloAttrs(lim Limits) map[string]string {
	lim.ensureDefaults()
	return map[string]string{
		"server":      "stratacache",
		"version":     strconv.Itoa(int(Version)),
		"max_payload": strconv.FormatInt(lim.MaxPayload, 10),
		"max_request": strconv.FormatInt(lim.MaxRequest, 10),
		"max_batch":   strconv.Itoa(lim.MaxBatch),
	}
}

// storeOptions turns a request's metadata into store options (TTL, dtype,
// shape, epoch); length and checksum are the engine's to compute.
func storeOptions(m *messages.Metadata) (actors.StoreOptions, error) {
	if m == nil {
		return actors.StoreOptions{}, nil
	}
	meta, err := messages.MetaFromProto(m)
	if err != nil {
		return actors.StoreOptions{}, err
	}
	return actors.StoreOptions{Meta: artifact.Meta{DType: meta.DType, Shape: meta.Shape, TTL: meta.TTL, Epoch: meta.Epoch}}, nil
}

// storeOne reads one payload of n bytes from the stream straight into the
// tier memory reserved for it (Engine.StoreFill: one copy, no intermediate
// buffer) and publishes it. A bad id or meta, or a store the engine refuses
// before reading (too large, no space), still consumes the payload so the
// stream stays in step; a truncated payload or a checksum that does not
// match leaves nothing stored. It returns (request error, connection error).
func (c *conn) storeOne(pid *messages.ArtifactID, pm *messages.Metadata, n uint64) (error, error) {
	id, idErr := messages.IDFromProto(pid)
	opts, metaErr := storeOptions(pm)
	if idErr != nil || metaErr != nil {
		if err := c.fr.Discard(int64(n)); err != nil {
			return nil, err
		}
		return errors.Join(idErr, metaErr), nil
	}
	if n > uint64(c.s.lim.MaxPayload) {
		// The frame checks bound it already; this keeps the int64 honest.
		if err := c.fr.Discard(int64(n)); err != nil {
			return nil, err
		}
		return fmt.Errorf("%w: %d bytes", actors.ErrTooLarge, n), nil
	}
	// The reserved tier bytes are in flight until the payload has arrived;
	// a refused payload is skipped without being held anywhere.
	if err := c.s.cfg.Budget.Acquire(c.s.ctx, int64(n)); err != nil {
		if err := c.fr.Discard(int64(n)); err != nil {
			return nil, err
		}
		return err, nil
	}
	defer c.s.cfg.Budget.Release(int64(n))
	filled := false
	var readErr error
	// The key's lock covers the whole store (see resp's streamSet: store
	// versions are taken when a store starts).
	k := c.s.cfg.Locks.Key(id.Hash)
	k.Lock()
	err := c.s.cfg.Engine.StoreFill(c.s.ctx, id, int64(n), opts, func(dst []byte) error {
		filled = true
		if err := c.fr.ReadPayload(dst); err != nil {
			readErr = err
			return err
		}
		if sum := pm.GetChecksum(); sum != 0 && sum != artifact.Checksum(dst) {
			return fmt.Errorf("%w: payload checksum does not match the one sent", actors.ErrCorrupt)
		}
		return nil
	})
	k.Unlock()
	if readErr != nil {
		return nil, readErr
	}
	if !filled {
		if err := c.fr.Discard(int64(n)); err != nil {
			return nil, err
		}
	}
	return err, nil
}

func (c *conn) onPut(reqID uint64, p Prefix) error {
	h := &c.fr.Header
	if len(h.GetIds()) != 1 {
		if err := c.fr.Discard(int64(p.PayloadLen)); err != nil {
			return err
		}
		c.replyError(reqID, CodeInvalid, fmt.Sprintf("PUT takes one id, got %d", len(h.GetIds())))
		return nil
	}
	reqErr, connErr := c.storeOne(h.GetIds()[0], h.GetMeta(), p.PayloadLen)
	if connErr != nil {
		return connErr
	}
	if reqErr != nil {
		c.replyErr(reqID, reqErr)
		return nil
	}
	c.reply(&messages.FrameHeader{RequestId: reqID, Op: messages.Op_OP_REPLY}, nil)
	return nil
}

// onLocate answers where ids[0] lives in the node's CXL pool (ServerConfig.
// Locate); a node that announces no pool answers unsupported.
func (c *conn) onLocate(reqID uint64) {
	h := &c.fr.Header
	if c.s.cfg.Locate == nil {
		c.replyError(reqID, CodeUnsupported, "LOCATE: this node announces no CXL pool")
		return
	}
	if len(h.GetIds()) != 1 {
		c.replyError(reqID, CodeInvalid, fmt.Sprintf("LOCATE takes one id, got %d", len(h.GetIds())))
		return
	}
	id, err := messages.IDFromProto(h.GetIds()[0])
	if err != nil {
		c.replyErr(reqID, err)
		return
	}
	loc, err := c.s.cfg.Locate(id)
	if err != nil {
		c.replyErr(reqID, err)
		return
	}
	c.reply(&messages.FrameHeader{RequestId: reqID, Op: messages.Op_OP_REPLY, Location: loc}, nil)
}

func (c *conn) onGet(reqID uint64) error {
	h := &c.fr.Header
	if len(h.GetIds()) != 1 {
		c.replyError(reqID, CodeInvalid, fmt.Sprintf("GET takes one id, got %d", len(h.GetIds())))
		return nil
	}
	id, err := messages.IDFromProto(h.GetIds()[0])
	if err != nil {
		c.replyErr(reqID, err)
		return nil
	}
	v, _, err := c.s.cfg.Engine.View(c.s.ctx, id, actors.Chain())
	if err != nil {
		if errors.Is(err, actors.ErrNotFound) {
			c.s.misses.Add(1)
		}
		c.replyErr(reqID, err)
		return nil
	}
	defer v.Release()
	c.s.hits.Add(1)
	b := v.Bytes()
	if len(b) >= directWrite {
		// The view stays pinned until the client has taken the payload.
		if err := c.s.cfg.Budget.Acquire(c.s.ctx, int64(len(b))); err != nil {
			c.replyErr(reqID, err)
			return nil
		}
		defer c.s.cfg.Budget.Release(int64(len(b)))
	}
	// The reply's header and metadata are the connection's own, reused:
	// two allocations less per GET (issue 16: allocation and the GC it
	// causes were a tenth of the node's CPU on pipelined 4 KiB GETs).
	rh, rm := &c.getReply, &c.getMeta
	*rm = messages.Metadata{}
	messages.MetaInto(rm, v.Meta())
	*rh = messages.FrameHeader{RequestId: reqID, Op: messages.Op_OP_REPLY, Meta: rm, PayloadLength: uint64(len(b))}
	out, err := AppendFrameHead(c.out, rh, uint64(len(b)))
	rm.Shape = nil // it aliases the tier's metadata, released below
	if err != nil {
		c.replyErr(reqID, err)
		return nil
	}
	c.out = out
	if len(b) < directWrite {
		c.out = append(c.out, b...)
		return nil
	}
	return c.writeLarge(b)
}

// directWrite is the payload size from which a reply goes out by writev
// beside the buffered replies instead of being copied into them.
const directWrite = 32 << 10

// onStatusOp serves EXISTS, MEXISTS and DELETE: the reply's payload is one
// byte per id, 1 (present / deleted) or 0.
func (c *conn) onStatusOp(reqID uint64, op messages.Op) error {
	h := &c.fr.Header
	ids := h.GetIds()
	if op != messages.Op_OP_MEXISTS && len(ids) != 1 {
		c.replyError(reqID, CodeInvalid, fmt.Sprintf("%s takes one id, got %d", op, len(ids)))
		return nil
	}
	status := make([]byte, len(ids))
	for i, pid := range ids {
		id, err := messages.IDFromProto(pid)
		if err != nil {
			c.replyErr(reqID, fmt.Errorf("id %d: %w", i, err))
			return nil
		}
		var ok bool
		if op == messages.Op_OP_DELETE {
			mu := c.s.cfg.Locks.Key(id.Hash)
			mu.Lock()
			ok, err = c.s.cfg.Engine.Delete(c.s.ctx, id)
			mu.Unlock()
		} else {
			ok, err = c.s.cfg.Engine.Contains(c.s.ctx, id, actors.Chain())
		}
		if err != nil {
			c.replyErr(reqID, err)
			return nil
		}
		if ok {
			status[i] = 1
		}
	}
	c.reply(&messages.FrameHeader{RequestId: reqID, Op: messages.Op_OP_REPLY}, status)
	return nil
}

// onMPut stores every artifact of the batch, one payload buffer at a time.
// The reply's payload has one status byte per id (1 stored, 0 failed); the
// first failure's code and text are in error_code and error.
func (c *conn) onMPut(reqID uint64) error {
	h := &c.fr.Header
	ids, lens, metas := h.GetIds(), h.GetPayloadLengths(), h.GetMetas()
	if len(metas) != 0 && len(metas) != len(ids) {
		var total int64
		for _, n := range lens {
			total += int64(n)
		}
		if err := c.fr.Discard(total); err != nil {
			return err
		}
		c.replyError(reqID, CodeInvalid, fmt.Sprintf("%d metas for %d ids", len(metas), len(ids)))
		return nil
	}
	status := make([]byte, len(ids))
	rh := &messages.FrameHeader{RequestId: reqID, Op: messages.Op_OP_REPLY}
	for i, pid := range ids {
		var pm *messages.Metadata
		if len(metas) > 0 {
			pm = metas[i]
		}
		reqErr, connErr := c.storeOne(pid, pm, lens[i])
		if connErr != nil {
			return connErr
		}
		if reqErr == nil {
			status[i] = 1
		} else if rh.ErrorCode == "" {
			rh.ErrorCode, rh.Error = codeOf(reqErr), fmt.Sprintf("id %d: %v", i, reqErr)
		}
	}
	c.reply(rh, status)
	return nil
}

// onMGet answers with every hit's payload in order; payload_lengths gives
// each length (0 for a miss), metas each artifact's metadata (empty for a
// miss), and attrs[MissingAttr] the indices of the misses. The payloads go
// out as zero-copy views.
func (c *conn) onMGet(reqID uint64) error {
	h := &c.fr.Header
	ids := h.GetIds()
	views := make([]tiers.View, 0, len(ids))
	defer func() {
		for _, v := range views {
			v.Release()
		}
	}()
	rh := &messages.FrameHeader{RequestId: reqID, Op: messages.Op_OP_REPLY,
		PayloadLengths: make([]uint64, len(ids)), Metas: make([]*messages.Metadata, len(ids))}
	var total uint64
	var missing []int
	pieces := make([][]byte, 0, len(ids))
	for i, pid := range ids {
		id, err := messages.IDFromProto(pid)
		if err != nil {
			c.replyErr(reqID, fmt.Errorf("id %d: %w", i, err))
			return nil
		}
		v, _, err := c.s.cfg.Engine.View(c.s.ctx, id, actors.Chain())
		if err != nil {
			if !errors.Is(err, actors.ErrNotFound) && !errors.Is(err, actors.ErrCollision) {
				c.replyErr(reqID, fmt.Errorf("id %d: %w", i, err))
				return nil
			}
			c.s.misses.Add(1)
			missing = append(missing, i)
			rh.Metas[i] = &messages.Metadata{}
			continue
		}
		c.s.hits.Add(1)
		views = append(views, v)
		b := v.Bytes()
		total += uint64(len(b))
		if total > uint64(c.s.lim.MaxRequest) {
			c.replyError(reqID, CodeTooLarge, fmt.Sprintf("MGET reply over %d bytes: ask for fewer ids", c.s.lim.MaxRequest))
			return nil
		}
		rh.PayloadLengths[i] = uint64(len(b))
		rh.Metas[i] = messages.MetaToProto(v.Meta())
		pieces = append(pieces, b)
	}
	if len(missing) > 0 {
		rh.Attrs = map[string]string{MissingAttr: formatMissing(missing)}
	}
	if total >= directWrite {
		if err := c.s.cfg.Budget.Acquire(c.s.ctx, int64(total)); err != nil {
			c.replyErr(reqID, err)
			return nil
		}
		defer c.s.cfg.Budget.Release(int64(total))
	}
	out, err := AppendFrameHead(c.out, rh, total)
	if err != nil {
		c.replyErr(reqID, err)
		return nil
	}
	c.out = out
	if total < directWrite {
		for _, b := range pieces {
			c.out = append(c.out, b...)
		}
		return nil
	}
	return c.writeLarge(pieces...)
}

// ErrorCode is the native protocol's error_code for err ("not_found",
// "too_large", ...): what a remote client receives for it. In-process
// callers (clientsdk's embedded mode) use it to match the same sentinels.
func ErrorCode(err error) string { return codeOf(err) }

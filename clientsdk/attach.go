package clientsdk

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/attach"
	"github.com/stratacache/stratacache/messages"
)

// ErrNoAttach: local attach is not possible: the node announces no CXL pool
// (no cxl tier, write-back links, or an embedded node), or this process
// cannot map the pool it announces (another host, no permission).
var ErrNoAttach = errors.New("clientsdk: local attach unavailable")

// maxLocations bounds an Attached's location cache; when full it starts
// over (a location costs one LOCATE round trip to learn again).
const maxLocations = 4096

// Attached reads a co-located node's CXL pool in place (local-attach mode,
// docs/clientsdk.md): Get copies an artifact straight from a read-only
// mapping of the pool, View hands out the mapped bytes themselves. Only
// the artifact's location comes over the socket (LOCATE, then cached);
// whatever the pool does not hold, or a read that raced with an eviction
// or overwrite, is served through the socket as by NodeClient.Get. Safe for
// concurrent use.
//
// Locations are cached when the node's links are write-through; with
// write-back links (HELLO's cxl_pool_writeback) every read asks LOCATE,
// because the pool may keep an older version until a flush.
//
// Consistency: a read through the mapping is accepted only if, after the
// bytes were copied (or, for a View, when the caller calls Valid after
// consuming them), the extent still carries the generation it was stored
// with and the pool's index slot still publishes it. The node zeroes the
// generation before it reuses an extent and clears the slot before a Put
// that replaces the artifact or a Delete returns, so an accepted read
// returns exactly the bytes of a version the node held at the moment of
// the check, never a mix, and never a version replaced or deleted before
// the read began. The payload checksum is verified on the first read of
// each location (the node never rewrites a stored extent in place).
type Attached struct {
	n    *NodeClient
	r    *attach.Reader
	path string
	// perRead: the node's links are write-back (cxl_pool_writeback), so
	// the pool may keep an older version after a Put returned: every
	// read asks LOCATE, which answers only for the newest version.
	perRead bool

	mu      sync.Mutex
	refs    int  // reads and views using the mapping
	closing bool // Close ran: unmap when refs reaches 0
	locs    map[string]*attach.Span

	hits, stale, fallbacks, locates atomic.Uint64
	// noLocate: the node answered LOCATE unsupported; stop asking.
	noLocate atomic.Bool
}

// Attach maps the CXL pool of node (an address the client can route to,
// as for On) read-only, if the node announces one in its HELLO (cxl_pool)
// and this process can open it. It fails with ErrNoAttach otherwise; the
// caller then keeps using the socket.
func (c *Client) Attach(ctx context.Context, node string) (*Attached, error) {
	if c.o.Embedded != nil {
		return nil, fmt.Errorf("%w: an embedded node shares the process already", ErrNoAttach)
	}
	s, err := c.Settings(ctx, node)
	if err != nil {
		return nil, err
	}
	path := s.Attrs["cxl_pool"]
	if path == "" {
		return nil, fmt.Errorf("%w: node %s announces no cxl_pool", ErrNoAttach, node)
	}
	r, err := attach.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: node %s: %w", ErrNoAttach, node, err)
	}
	return &Attached{n: c.On(node), r: r, path: path, perRead: s.Attrs["cxl_pool_writeback"] == "true",
		locs: make(map[string]*attach.Span)}, nil
}

// Path is the pool the node announced.
func (a *Attached) Path() string { return a.path }

// Get copies id's payload into dst (grown when short) and returns it: from
// the mapping when the pool holds the node's newest version, else through
// the socket.
func (a *Attached) Get(ctx context.Context, dst []byte, id artifact.ID) ([]byte, error) {
	if err := id.Validate(); err != nil {
		return dst[:0], fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	for try := 0; try < 2; try++ {
		sp, err := a.span(ctx, id)
		if err != nil {
			if errors.Is(err, ErrClosed) || ctx.Err() != nil {
				return dst[:0], err
			}
			break
		}
		n := len(sp.Bytes)
		if cap(dst) < n {
			dst = make([]byte, n)
		}
		dst = dst[:n]
		copy(dst, sp.Bytes)
		ok := sp.Valid()
		a.release()
		if ok {
			a.hits.Add(1)
			return dst, nil
		}
		a.stale.Add(1)
		a.forget(id, sp)
	}
	a.fallbacks.Add(1)
	return a.n.Get(ctx, dst, id)
}

// PoolView is a payload a View returned: the pool's mapped bytes (zero
// copy), or a private copy when the artifact came through the socket.
type PoolView struct {
	a    *Attached
	sp   *attach.Span // nil for a copy
	b    []byte
	meta artifact.Meta
	once sync.Once
}

// Bytes is the payload. For a mapped view it aliases the node's pool: the
// node may evict or overwrite the artifact at any moment, so consume the
// bytes, then call Valid. Never write to it (the mapping is read-only: a
// write faults).
func (v *PoolView) Bytes() []byte { return v.b }

// Meta is the artifact's metadata (length, checksum, dtype, shape, times).
func (v *PoolView) Meta() artifact.Meta { return v.meta }

// Mapped reports whether Bytes aliases the pool (false: a private copy).
func (v *PoolView) Mapped() bool { return v.sp != nil }

// Valid reports whether the bytes consumed so far were the artifact's: the
// pool still held this version when Valid ran. False: discard what was
// read from Bytes and Get again. Always true for a private copy.
func (v *PoolView) Valid() bool { return v.sp == nil || v.sp.Valid() }

// Release ends the view; Bytes must not be used after it. The pool stays
// mapped (even after Close) until every view is released. Safe twice.
func (v *PoolView) Release() {
	v.once.Do(func() {
		if v.sp != nil {
			v.a.release()
		}
	})
}

// View returns id's payload without copying it when the pool holds the
// node's newest version (Mapped true), else a copy read through the
// socket. The caller must Release it.
func (a *Attached) View(ctx context.Context, id artifact.ID) (*PoolView, error) {
	if err := id.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	sp, err := a.span(ctx, id)
	switch {
	case err == nil:
		a.hits.Add(1)
		return &PoolView{a: a, sp: sp, b: sp.Bytes, meta: sp.Meta}, nil
	case errors.Is(err, ErrClosed) || ctx.Err() != nil:
		return nil, err
	}
	a.fallbacks.Add(1)
	b, meta, err := a.n.GetMeta(ctx, nil, id)
	if err != nil {
		return nil, err
	}
	return &PoolView{a: a, b: b, meta: meta}, nil
}

// span returns id's span in the pool, from the cache or through LOCATE,
// with a reference on the mapping (release it). An error means: not in
// the pool (or not usable there); use the socket.
func (a *Attached) span(ctx context.Context, id artifact.ID) (*attach.Span, error) {
	k := locKey(id)
	a.mu.Lock()
	if a.closing {
		a.mu.Unlock()
		return nil, ErrClosed
	}
	a.refs++
	var sp *attach.Span
	if !a.perRead {
		sp = a.locs[k]
	}
	a.mu.Unlock()
	if sp != nil && sp.Valid() && !expired(sp.Meta) {
		return sp, nil
	}
	if sp != nil {
		a.forget(id, sp)
	}
	sp, err := a.locate(ctx, id)
	if err != nil {
		a.release()
		return nil, err
	}
	if a.perRead {
		return sp, nil
	}
	a.mu.Lock()
	if len(a.locs) >= maxLocations {
		clear(a.locs)
	}
	a.locs[k] = sp
	a.mu.Unlock()
	return sp, nil
}

// locate asks the node where id lives in its pool and reads the extent's
// header and payload checksum there.
func (a *Attached) locate(ctx context.Context, id artifact.ID) (*attach.Span, error) {
	if a.noLocate.Load() {
		return nil, ErrUnsupported
	}
	a.locates.Add(1)
	var loc *messages.PoolLocation
	err := a.n.do(ctx, func(cn *conn) error {
		var err error
		loc, err = cn.locate(ctx, id)
		return err
	})
	if errors.Is(err, ErrUnsupported) {
		a.noLocate.Store(true)
	}
	if err != nil {
		return nil, err
	}
	sp, err := a.r.Read(attach.Location{Slot: loc.GetSlot(), Offset: loc.GetOffset(), Length: loc.GetLength(), Generation: loc.GetGeneration()})
	if err != nil {
		if errors.Is(err, attach.ErrStale) {
			a.stale.Add(1)
		}
		return nil, err
	}
	if !sp.ID.Equal(id) {
		return nil, fmt.Errorf("%w: the pool's extent holds %s, not %s", ErrCollision, sp.ID, id)
	}
	if expired(sp.Meta) {
		return nil, fmt.Errorf("%w: %s expired", ErrNotFound, id)
	}
	return sp, nil
}

// expired reports whether an artifact's TTL has run out (the node expires
// lazily; the socket path answers for it).
func expired(m artifact.Meta) bool {
	return m.TTL > 0 && time.Now().UnixNano() > m.Created+int64(m.TTL)
}

// forget drops id's cached span if it is still sp.
func (a *Attached) forget(id artifact.ID, sp *attach.Span) {
	k := locKey(id)
	a.mu.Lock()
	if a.locs[k] == sp {
		delete(a.locs, k)
	}
	a.mu.Unlock()
}

func (a *Attached) release() {
	a.mu.Lock()
	a.refs--
	unmap := a.closing && a.refs == 0
	a.mu.Unlock()
	if unmap {
		// Nobody is left to receive this error: Close returned already.
		_ = a.r.Close()
	}
}

func locKey(id artifact.ID) string {
	return string(append([]byte{byte(id.Namespace)}, id.Key...))
}

// AttachStats counts what an Attached did.
type AttachStats struct {
	Hits      uint64 // reads and views served from the mapping
	Stale     uint64 // mapped reads that raced with an eviction or overwrite (then retried)
	Fallbacks uint64 // reads served through the socket
	Locates   uint64 // LOCATE round trips
}

// Stats fills s.
func (a *Attached) Stats(s *AttachStats) {
	*s = AttachStats{Hits: a.hits.Load(), Stale: a.stale.Load(), Fallbacks: a.fallbacks.Load(), Locates: a.locates.Load()}
}

// Close unmaps the pool once every read and view in progress is done;
// later calls fail with ErrClosed. The client itself stays open. Safe to
// call twice.
func (a *Attached) Close() error {
	a.mu.Lock()
	if a.closing {
		a.mu.Unlock()
		return nil
	}
	a.closing = true
	clear(a.locs)
	unmap := a.refs == 0
	a.mu.Unlock()
	if unmap {
		return a.r.Close()
	}
	return nil
}

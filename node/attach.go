package node

import (
	"fmt"
	"path/filepath"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/cxl"
)

// poolAttach lets a client on the same host read the node's CXL pool
// through a read-only mapping (clientsdk's local-attach mode): the native
// port announces the pool's path in HELLO (cxl_pool, and
// cxl_pool_writeback) and answers LOCATE with where an artifact lives in
// it. docs/clientsdk.md, "Local attach".
type poolAttach struct {
	pool *cxl.Tier
	path string     // absolute path of the pool's device or file
	cpu  tiers.Tier // the tier above the pool, whose newer version wins
	// writeback: the link above the pool is write-back, so a Put may
	// leave an older version in the pool (until a flush) after it
	// returns. Clients then ask LOCATE for every read instead of caching
	// locations.
	writeback bool
}

// newPoolAttach finds the CXL pool in chain (as BuildTiers returned it,
// before any wrapping); nil when there is none.
func newPoolAttach(cfg Config, chain []tiers.Tier) *poolAttach {
	if len(chain) < 2 {
		return nil
	}
	pool, ok := chain[1].(*cxl.Tier)
	if !ok {
		return nil
	}
	path, err := filepath.Abs(pool.Path())
	if err != nil {
		return nil
	}
	return &poolAttach{pool: pool, path: path, cpu: chain[0], writeback: cfg.Writeback}
}

// locate answers LOCATE: the pool's location of id, when the pool holds
// the newest version the node has (the CPU tier holds the same version or
// none; with write-back links a newer one may wait there for its flush). It takes the tiers' own locks only briefly; it never blocks.
func (p *poolAttach) locate(id artifact.ID) (*messages.PoolLocation, error) {
	loc, err := p.pool.Locate(id)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not in the cxl pool: %w", actors.ErrNotFound, id, err)
	}
	pv, ok := p.pool.Version(id)
	if !ok {
		return nil, fmt.Errorf("%w: %s left the cxl pool", actors.ErrNotFound, id)
	}
	if cv, ok := p.cpu.Version(id); ok && cv != pv {
		return nil, fmt.Errorf("%w: the cxl pool holds version %d of %s, the cpu tier %d", actors.ErrNotFound, pv, id, cv)
	}
	return &messages.PoolLocation{Slot: loc.Slot, Offset: loc.Offset, Length: loc.Length, Generation: loc.Generation}, nil
}

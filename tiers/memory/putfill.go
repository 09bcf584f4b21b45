package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

var _ tiers.FillPutter = (*Tier)(nil)

// PutFill stores an n-byte payload that fill writes straight into the
// reserved arena bytes (see tiers.FillPutter): one copy from wherever fill
// reads, no intermediate buffer. With Config.ChecksumOnPut the checksum is
// computed after fill returns, over the bytes as they are in the tier. If
// fill fails, the extent is freed and nothing is published.
func (t *Tier) PutFill(ctx context.Context, id artifact.ID, n int64, opts tiers.PutOptions, fill func(dst []byte) error) error {
	sh, e, err := t.prepare(ctx, id, n, opts)
	if err != nil {
		return err
	}
	if err := fill(e.data); err != nil {
		t.abandon(e)
		return fmt.Errorf("memory: fill %s: %w", id, err)
	}
	if t.checksumOnPut {
		e.sum.Store(artifact.Checksum(e.data))
		e.summed.Store(true)
	}
	// Created/Accessed count from the end of the fill, as for Put.
	now := time.Now().UnixNano()
	e.meta.Created, e.meta.Accessed = now, now
	e.accessed.Store(now)
	return t.publish(ctx, sh, e, opts)
}
